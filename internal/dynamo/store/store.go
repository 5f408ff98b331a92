// Package store is the embedded storage engine of esb's DynamoDB: tables,
// items, secondary indexes and TTL on bbolt, a B+tree in one file with a
// durable commit (fdatasync) per transaction. Writers go through one commit
// loop that groups concurrent requests into a single transaction, so each
// acknowledged write is on disk while many writers share one sync; readers
// run on consistent snapshots concurrently with the writer.
package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
	bolt "go.etcd.io/bbolt"
)

// Options configure the engine.
type Options struct {
	// Dir is the data directory; the database file is Dir/dynamodb.db.
	Dir string
	// NoSync skips fsync on commit (tests and benchmarks of the API only).
	NoSync bool
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// MaxBatch bounds how many write requests share one transaction (default 256).
	MaxBatch int
}

// DB is an open database.
type DB struct {
	bolt    *bolt.DB
	now     func() time.Time
	writes  chan *writeReq
	tables  atomic.Pointer[map[string]*TableDef]
	stop    chan struct{}
	wg      sync.WaitGroup
	max     int
	closeMu sync.RWMutex
	closed  bool
}

var (
	bucketTables = []byte("tables")
	bucketItems  = []byte("items")
	bucketTTL    = []byte("ttl")
	keyStats     = []byte("stats")
)

// ErrClosed is returned by operations on a closed database.
var ErrClosed = errors.New("database is closed")

// Open opens (creating if needed) the database in opts.Dir.
func Open(opts Options) (*DB, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", opts.Dir, err)
	}
	path := filepath.Join(opts.Dir, "dynamodb.db")
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         2 * time.Second,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30,
		NoSync:          opts.NoSync,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: the database is locked by another process (is another esb dynamodb running on this data directory?)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{bolt: bdb, now: opts.Now, writes: make(chan *writeReq, 1024), stop: make(chan struct{}), max: opts.MaxBatch}
	if db.now == nil {
		db.now = time.Now
	}
	if db.max <= 0 {
		db.max = 256
	}
	tables := map[string]*TableDef{}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTables)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var d TableDef
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("table %s: %w", k, err)
			}
			tables[d.Name] = &d
			return nil
		})
	})
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("load table catalogue from %s: %w", path, err)
	}
	db.tables.Store(&tables)
	db.wg.Add(1)
	go db.commitLoop()
	return db, nil
}

// Close stops the commit loop and closes the file.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	close(db.stop)
	db.closeMu.Unlock()
	db.wg.Wait()
	return db.bolt.Close()
}

// Now returns the engine's clock.
func (db *DB) Now() time.Time { return db.now() }

// Table returns the current definition of a table (nil if it does not exist).
// Definitions are immutable; a change replaces them.
func (db *DB) Table(name string) *TableDef { return (*db.tables.Load())[name] }

// Tables returns every table definition.
func (db *DB) Tables() []*TableDef {
	m := *db.tables.Load()
	out := make([]*TableDef, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	return out
}

func (db *DB) setTable(name string, d *TableDef) {
	old := *db.tables.Load()
	m := make(map[string]*TableDef, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if d == nil {
		delete(m, name)
	} else {
		m[name] = d
	}
	db.tables.Store(&m)
}

// ---- records ----

// Record is a stored item: its expiry, its size by DynamoDB's rules, and its JSON.
type Record struct {
	Expiry int64
	Size   int
	JSON   []byte
}

const recordHeader = 1 + 8 + 4

func encodeRecord(it attr.Item, expiry int64, size int) []byte {
	buf := make([]byte, recordHeader, recordHeader+size+size/2+32)
	buf[0] = 1
	binary.BigEndian.PutUint64(buf[1:], uint64(expiry))
	binary.BigEndian.PutUint32(buf[9:], uint32(size))
	return attr.AppendItem(buf, it)
}

func decodeRecord(v []byte) (Record, bool) {
	if len(v) < recordHeader || v[0] != 1 {
		return Record{}, false
	}
	return Record{
		Expiry: int64(binary.BigEndian.Uint64(v[1:])),
		Size:   int(binary.BigEndian.Uint32(v[9:])),
		JSON:   v[recordHeader:],
	}, true
}

// Expired reports whether the record is past its TTL at now under the table's settings.
func (r Record) Expired(d *TableDef, now int64) bool {
	return d.TTLEnabled && r.Expiry > 0 && r.Expiry < now
}

func tableBucketName(d *TableDef) []byte { return []byte("t/" + d.ID) }
func indexBucketName(x *IndexDef) []byte { return []byte("ix/" + x.Name) }

// ---- reads ----

// ReadTx is a consistent read-only snapshot.
type ReadTx struct {
	tx  *bolt.Tx
	now int64
}

// View runs fn on a snapshot.
func (db *DB) View(fn func(tx *ReadTx) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		return fn(&ReadTx{tx: tx, now: db.now().Unix()})
	})
}

// Now is the snapshot's clock in epoch seconds (for TTL).
func (r *ReadTx) Now() int64 { return r.now }

func (r *ReadTx) tableBucket(d *TableDef) *bolt.Bucket { return r.tx.Bucket(tableBucketName(d)) }

// Get returns the live (not expired) record at key. The record's bytes are
// valid only inside the transaction.
func (r *ReadTx) Get(d *TableDef, key []byte) (Record, bool) {
	tb := r.tableBucket(d)
	if tb == nil {
		return Record{}, false
	}
	v := tb.Bucket(bucketItems).Get(key)
	if v == nil {
		return Record{}, false
	}
	rec, ok := decodeRecord(v)
	if !ok || rec.Expired(d, r.now) {
		return Record{}, false
	}
	return rec, true
}

// Exists reports whether the table's storage exists in this snapshot.
func (r *ReadTx) Exists(d *TableDef) bool { return r.tableBucket(d) != nil }

// Stats returns the table's item count and total item size.
func (r *ReadTx) Stats(d *TableDef) (count, bytes int64) {
	tb := r.tableBucket(d)
	if tb == nil {
		return 0, 0
	}
	return readStats(tb)
}

func readStats(tb *bolt.Bucket) (int64, int64) {
	v := tb.Get(keyStats)
	if len(v) != 16 {
		return 0, 0
	}
	return int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
}

// Range is a half-open key range [Lo, Hi); a nil Hi is unbounded.
type Range struct{ Lo, Hi []byte }

// Iterate visits live items in the range of the table (x == nil) or of an
// index, ascending or descending, until fn returns false. For an index, key
// is the index entry key and rec the table item it points to.
func (r *ReadTx) Iterate(d *TableDef, x *IndexDef, rg Range, reverse bool, fn func(key []byte, rec Record) bool) {
	tb := r.tableBucket(d)
	if tb == nil {
		return
	}
	items := tb.Bucket(bucketItems)
	b := items
	if x != nil {
		if b = tb.Bucket(indexBucketName(x)); b == nil {
			return
		}
	}
	c := b.Cursor()
	visit := func(k, v []byte) bool {
		if x != nil {
			if v = items.Get(v); v == nil {
				return true
			}
		}
		rec, ok := decodeRecord(v)
		if !ok || rec.Expired(d, r.now) {
			return true
		}
		return fn(k, rec)
	}
	if !reverse {
		for k, v := c.Seek(rg.Lo); k != nil; k, v = c.Next() {
			if rg.Hi != nil && string(k) >= string(rg.Hi) {
				return
			}
			if !visit(k, v) {
				return
			}
		}
		return
	}
	var k, v []byte
	if rg.Hi == nil {
		k, v = c.Last()
	} else {
		k, v = c.Seek(rg.Hi)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = c.Prev() {
		if string(k) < string(rg.Lo) {
			return
		}
		if !visit(k, v) {
			return
		}
	}
}

// ---- writes ----

type writeReq struct {
	fn   func(*WriteTx) error
	done chan error
	// alone marks schema changes: they run in a transaction of their own so
	// that every later write sees the new definition.
	alone bool
}

// WriteTx is the write transaction an operation runs in. Operations check
// everything before they write; an operation that fails after writing is
// rolled back on its own.
type WriteTx struct {
	ReadTx
	db       *DB
	dirty    bool
	onCommit []func()
}

// Write runs fn in the commit loop and returns once its transaction is
// durable (or failed). fn may run more than once; it must only act through tx.
func (db *DB) Write(ctx context.Context, fn func(*WriteTx) error) error {
	return db.write(ctx, fn, false)
}

func (db *DB) write(ctx context.Context, fn func(*WriteTx) error, alone bool) error {
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return ErrClosed
	}
	req := &writeReq{fn: fn, done: make(chan error, 1), alone: alone}
	select {
	case db.writes <- req:
	case <-ctx.Done():
		db.closeMu.RUnlock()
		return ctx.Err()
	}
	db.closeMu.RUnlock()
	// The commit loop always answers, even after ctx ends: the write may commit.
	return <-req.done
}

func (db *DB) commitLoop() {
	defer db.wg.Done()
	batch := make([]*writeReq, 0, db.max)
	for {
		select {
		case <-db.stop:
			// Answer what is queued, then stop.
			for {
				select {
				case r := <-db.writes:
					db.runBatch([]*writeReq{r})
				default:
					return
				}
			}
		case r := <-db.writes:
			batch = append(batch[:0], r)
			var next *writeReq
		fill:
			for len(batch) < db.max && !r.alone {
				select {
				case n := <-db.writes:
					if n.alone {
						next = n
						break fill
					}
					batch = append(batch, n)
				default:
					break fill
				}
			}
			db.runBatch(batch)
			if next != nil {
				db.runBatch([]*writeReq{next})
			}
		}
	}
}

var errRetryAlone = errors.New("retry alone")

func (db *DB) runBatch(batch []*writeReq) {
	errs := make([]error, len(batch))
	var commits []func()
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		now := db.now().Unix()
		for i, r := range batch {
			tx := &WriteTx{ReadTx: ReadTx{tx: btx, now: now}, db: db}
			errs[i] = call(r.fn, tx)
			if errs[i] != nil && tx.dirty {
				if len(batch) == 1 {
					return errs[i]
				}
				return errRetryAlone
			}
			commits = append(commits, tx.onCommit...)
		}
		return nil
	})
	if errors.Is(err, errRetryAlone) {
		for _, r := range batch {
			db.runBatch([]*writeReq{r})
		}
		return
	}
	if err == nil {
		for _, f := range commits {
			f()
		}
	}
	for i, r := range batch {
		if err != nil {
			if errs[i] == nil || len(batch) > 1 {
				errs[i] = fmt.Errorf("commit: %w", err)
			}
		}
		r.done <- errs[i]
	}
}

func call(fn func(*WriteTx) error, tx *WriteTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			tx.dirty = true
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	return fn(tx)
}

// OnCommit registers f to run after the transaction commits.
func (w *WriteTx) OnCommit(f func()) { w.onCommit = append(w.onCommit, f) }

// Put stores the item at key, replacing old (the record Get returned, or a
// zero Record when there was none), and maintains indexes, TTL and stats.
func (w *WriteTx) Put(d *TableDef, key []byte, old attr.Item, oldRec *Record, it attr.Item, size int) error {
	tb := w.tableBucket(d)
	if tb == nil {
		return fmt.Errorf("table %s storage missing", d.Name)
	}
	w.dirty = true
	expiry := d.ExpiryOf(it)
	if err := tb.Bucket(bucketItems).Put(key, encodeRecord(it, expiry, size)); err != nil {
		return err
	}
	for _, x := range d.Indexes() {
		var ok, nk []byte
		if old != nil {
			ok = x.entryKey(old, key)
		}
		nk = x.entryKey(it, key)
		if string(ok) == string(nk) {
			continue
		}
		ib := tb.Bucket(indexBucketName(x))
		if ok != nil {
			if err := ib.Delete(ok); err != nil {
				return err
			}
		}
		if nk != nil {
			if err := ib.Put(nk, key); err != nil {
				return err
			}
		}
	}
	var oldExp int64
	if oldRec != nil {
		oldExp = oldRec.Expiry
	}
	if err := w.moveTTL(tb, key, oldExp, expiry); err != nil {
		return err
	}
	dc, db := int64(1), int64(size)
	if oldRec != nil {
		dc, db = 0, int64(size-oldRec.Size)
	}
	return addStats(tb, dc, db)
}

// Delete removes the item at key (old is its decoded content).
func (w *WriteTx) Delete(d *TableDef, key []byte, old attr.Item, oldRec Record) error {
	tb := w.tableBucket(d)
	if tb == nil {
		return fmt.Errorf("table %s storage missing", d.Name)
	}
	w.dirty = true
	if err := tb.Bucket(bucketItems).Delete(key); err != nil {
		return err
	}
	for _, x := range d.Indexes() {
		if k := x.entryKey(old, key); k != nil {
			if err := tb.Bucket(indexBucketName(x)).Delete(k); err != nil {
				return err
			}
		}
	}
	if err := w.moveTTL(tb, key, oldRec.Expiry, 0); err != nil {
		return err
	}
	return addStats(tb, -1, -int64(oldRec.Size))
}

// GetRaw returns the record at key even if expired (for TTL handling).
func (w *WriteTx) GetRaw(d *TableDef, key []byte) (Record, bool) {
	tb := w.tableBucket(d)
	if tb == nil {
		return Record{}, false
	}
	v := tb.Bucket(bucketItems).Get(key)
	if v == nil {
		return Record{}, false
	}
	return decodeRecord(v)
}

func ttlKey(exp int64, key []byte) []byte {
	k := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(k, uint64(exp))
	return append(k, key...)
}

func (w *WriteTx) moveTTL(tb *bolt.Bucket, key []byte, oldExp, newExp int64) error {
	if oldExp == newExp {
		return nil
	}
	b := tb.Bucket(bucketTTL)
	if oldExp > 0 {
		if err := b.Delete(ttlKey(oldExp, key)); err != nil {
			return err
		}
	}
	if newExp > 0 {
		return b.Put(ttlKey(newExp, key), nil)
	}
	return nil
}

func addStats(tb *bolt.Bucket, dc, db int64) error {
	c, b := readStats(tb)
	var v [16]byte
	binary.BigEndian.PutUint64(v[:], uint64(c+dc))
	binary.BigEndian.PutUint64(v[8:], uint64(b+db))
	return tb.Put(keyStats, v[:])
}
