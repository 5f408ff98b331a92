// Package store is the embedded storage engine of esb's DynamoDB: tables,
// items, secondary indexes and TTL on Pebble, a log-structured merge tree with
// a write-ahead log. Writers go through one commit loop that runs every
// request waiting at that moment in one batch and makes the batch durable with
// a single WAL sync, so each acknowledged write is on disk while many writers
// share one sync; the loop also serialises conditional read-check-write
// operations, so they need no locks. Readers use consistent snapshots,
// concurrently with the writer.
package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

// Options configure the engine.
type Options struct {
	// Dir is the data directory; the engine's files live in Dir/store.
	Dir string
	// NoSync skips the WAL sync on commit (tests and benchmarks of the API only).
	NoSync bool
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// MaxBatch bounds how many write requests share one batch (default 256).
	MaxBatch int
	// CacheBytes is the block cache size (default 64 MiB).
	CacheBytes int64
}

// DB is an open database.
type DB struct {
	pdb     *pebble.DB
	sync    *pebble.WriteOptions
	now     func() time.Time
	writes  chan *writeReq
	syncs   chan pendingSync
	tables  atomic.Pointer[map[string]*TableDef]
	stop    chan struct{}
	wg      sync.WaitGroup
	max     int
	closeMu sync.RWMutex
	closed  bool
	// commitMu is held while a batch is built and applied: by the commit
	// loop, or by a lone writer committing in its own goroutine.
	commitMu sync.Mutex
}

// Key layout. Every key of a table starts with "d" + its 36-byte ID, so a
// table (or one of its indexes) is dropped with one range deletion.
//
//	c<name>                          table definition (JSON)
//	d<id>s                           item count and bytes
//	d<id>i<item key>                 record: header + item JSON
//	d<id>x<index name>\x00<entry>    index entry → item key
//	d<id>e<expiry:8><item key>       TTL order
const (
	prefixCatalog = 'c'
	prefixData    = 'd'
	subStats      = 's'
	subItems      = 'i'
	subIndex      = 'x'
	subTTL        = 'e'
)

// ErrClosed is returned by operations on a closed database.
var ErrClosed = errors.New("database is closed")

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "dynamodb store: fatal: "+format+"\n", args...)
	os.Exit(1)
}

// Open opens (creating if needed) the database in opts.Dir.
func Open(opts Options) (*DB, error) {
	dir := filepath.Join(opts.Dir, "store")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	cacheBytes := opts.CacheBytes
	if cacheBytes <= 0 {
		cacheBytes = 64 << 20
	}
	cache := pebble.NewCache(cacheBytes)
	defer cache.Unref()
	pdb, err := pebble.Open(dir, &pebble.Options{
		Cache:              cache,
		Logger:             quietLogger{},
		FormatMajorVersion: pebble.FormatNewest,
	})
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("open %s: another process holds this data directory (is another esb dynamodb running on it?): %w", dir, err)
		}
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	db := &DB{pdb: pdb, sync: pebble.Sync, now: opts.Now, writes: make(chan *writeReq, 1024), stop: make(chan struct{}), max: opts.MaxBatch}
	if opts.NoSync {
		db.sync = pebble.NoSync
	}
	if db.now == nil {
		db.now = time.Now
	}
	if db.max <= 0 {
		db.max = 256
	}
	tables, err := db.loadCatalog()
	if err != nil {
		pdb.Close()
		return nil, fmt.Errorf("load table catalogue from %s: %w", dir, err)
	}
	db.tables.Store(&tables)
	if !opts.NoSync {
		db.syncs = make(chan pendingSync, 8)
		db.wg.Add(1)
		go db.syncLoop()
	}
	db.wg.Add(1)
	go db.commitLoop()
	return db, nil
}

func (db *DB) loadCatalog() (map[string]*TableDef, error) {
	tables := map[string]*TableDef{}
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCatalog}, UpperBound: []byte{prefixCatalog + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var d TableDef
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("table %s: %w", it.Key()[1:], err)
		}
		tables[d.Name] = &d
	}
	return tables, it.Error()
}

// Close stops the commit loop and closes the engine.
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
	return db.pdb.Close()
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

// ---- keys ----

func tablePrefix(d *TableDef) []byte {
	k := make([]byte, 0, 1+len(d.ID)+1)
	k = append(k, prefixData)
	return append(k, d.ID...)
}

func subPrefix(d *TableDef, sub byte, extra int) []byte {
	k := make([]byte, 0, 2+len(d.ID)+extra)
	k = append(k, prefixData)
	k = append(k, d.ID...)
	return append(k, sub)
}

func itemKey(d *TableDef, key []byte) []byte {
	return append(subPrefix(d, subItems, len(key)), key...)
}

func indexPrefix(d *TableDef, x *IndexDef) []byte {
	k := subPrefix(d, subIndex, len(x.Name)+1)
	k = append(k, x.Name...)
	return append(k, 0)
}

func statsKey(d *TableDef) []byte { return subPrefix(d, subStats, 0) }

func catalogKey(name string) []byte { return append([]byte{prefixCatalog}, name...) }

func prefixEnd(p []byte) []byte { return attr.PrefixEnd(p) }

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

// ---- reads ----

// ReadTx is a consistent read-only view: a snapshot, or for a write the
// batch being built (which sees its own writes).
type ReadTx struct {
	r       pebble.Reader
	now     int64
	closers []io.Closer
}

// View runs fn on the latest committed state: each Get sees the latest
// commit and each iteration is a consistent point-in-time view of its range.
// Bytes it hands out are valid only inside fn. Reads that must agree with
// each other across keys use Snapshot.
func (db *DB) View(fn func(tx *ReadTx) error) error {
	tx := &ReadTx{r: db.pdb, now: db.now().Unix()}
	err := fn(tx)
	tx.release()
	return err
}

// Snapshot runs fn on one consistent snapshot of the whole database.
func (db *DB) Snapshot(fn func(tx *ReadTx) error) error {
	snap := db.pdb.NewSnapshot()
	tx := &ReadTx{r: snap, now: db.now().Unix()}
	err := fn(tx)
	tx.release()
	snap.Close()
	return err
}

func (r *ReadTx) release() {
	for _, c := range r.closers {
		c.Close()
	}
	r.closers = r.closers[:0]
}

// Now is the snapshot's clock in epoch seconds (for TTL).
func (r *ReadTx) Now() int64 { return r.now }

func (r *ReadTx) get(k []byte) []byte {
	v, c, err := r.r.Get(k)
	if err != nil {
		return nil
	}
	r.closers = append(r.closers, c)
	return v
}

// Exists reports whether the table's storage exists in this view.
func (r *ReadTx) Exists(d *TableDef) bool { return r.get(statsKey(d)) != nil }

// Get returns the live (not expired) record at key.
func (r *ReadTx) Get(d *TableDef, key []byte) (Record, bool) {
	rec, ok := r.getRaw(d, key)
	if !ok || rec.Expired(d, r.now) {
		return Record{}, false
	}
	return rec, true
}

func (r *ReadTx) getRaw(d *TableDef, key []byte) (Record, bool) {
	v := r.get(itemKey(d, key))
	if v == nil {
		return Record{}, false
	}
	return decodeRecord(v)
}

// Stats returns the table's item count and total item size.
func (r *ReadTx) Stats(d *TableDef) (count, bytes int64) {
	return decodeStats(r.get(statsKey(d)))
}

func decodeStats(v []byte) (int64, int64) {
	if len(v) != 16 {
		return 0, 0
	}
	return int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
}

// Range is a half-open key range [Lo, Hi) of item keys (or index entry
// keys); a nil Hi is unbounded.
type Range struct{ Lo, Hi []byte }

// Iterate visits live items in the range of the table (x == nil) or of an
// index, ascending or descending, until fn returns false. For an index, key
// is the index entry key and rec the table item it points to.
func (r *ReadTx) Iterate(d *TableDef, x *IndexDef, rg Range, reverse bool, fn func(key []byte, rec Record) bool) error {
	var pre []byte
	if x == nil {
		pre = subPrefix(d, subItems, 0)
	} else {
		pre = indexPrefix(d, x)
	}
	lo := append(append([]byte(nil), pre...), rg.Lo...)
	var hi []byte
	if rg.Hi != nil {
		hi = append(append([]byte(nil), pre...), rg.Hi...)
	} else {
		hi = prefixEnd(pre)
	}
	it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	visit := func() (bool, error) {
		v, err := it.ValueAndErr()
		if err != nil {
			return false, err
		}
		if x != nil {
			if v = r.get(itemKey(d, v)); v == nil {
				return true, nil
			}
		}
		rec, ok := decodeRecord(v)
		if !ok || rec.Expired(d, r.now) {
			return true, nil
		}
		return fn(it.Key()[len(pre):], rec), nil
	}
	var ok bool
	if reverse {
		ok = it.Last()
	} else {
		ok = it.First()
	}
	for ok {
		more, err := visit()
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if x != nil && len(r.closers) > 64 {
			r.release()
		}
		if reverse {
			ok = it.Prev()
		} else {
			ok = it.Next()
		}
	}
	return it.Error()
}

// ---- writes ----

type writeReq struct {
	fn   func(*WriteTx) error
	done chan error
	// alone marks schema changes: they run in a batch of their own so that
	// every later write sees the new definition.
	alone bool
}

// WriteTx is the write transaction an operation runs in. Operations check
// everything before they write; an operation that fails after writing is
// rolled back on its own.
type WriteTx struct {
	ReadTx
	b        *pebble.Batch
	db       *DB
	dirty    bool
	onCommit []func()
	stats    map[*TableDef]*tableStats
}

// Write runs fn in the commit loop (or, when no other write is in progress,
// in the caller's goroutine) and returns once its batch is durable (or
// failed). fn may run more than once; it must only act through tx.
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
	// A lone writer (nothing queued, the commit loop idle) commits in its own
	// goroutine: two goroutine hand-offs, each a thread wake-up, fewer on its
	// path. Writers that find the loop busy queue and are batched as before.
	if len(db.writes) == 0 && db.commitMu.TryLock() {
		db.runBatch([]*writeReq{req})
		db.commitMu.Unlock()
		db.closeMu.RUnlock()
		return <-req.done
	}
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
	if db.syncs != nil {
		defer close(db.syncs)
	}
	batch := make([]*writeReq, 0, db.max)
	for {
		select {
		case <-db.stop:
			for {
				select {
				case r := <-db.writes:
					db.commitMu.Lock()
					db.runBatch([]*writeReq{r})
					db.commitMu.Unlock()
				default:
					return
				}
			}
		case r := <-db.writes:
			db.commitMu.Lock()
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
			db.commitMu.Unlock()
		}
	}
}

// tableStats is a table's item count and bytes as a batch changes them: the
// stats key is read once per batch and written once before the commit, not
// once per write.
type tableStats struct {
	key          []byte
	count, bytes int64
	changed      bool
}

// pendingSync is a batch applied to the engine whose WAL sync is still in
// flight; its writers are answered once the sync completes.
type pendingSync struct {
	b     *pebble.Batch
	batch []*writeReq
	errs  []error
}

func (db *DB) runBatch(batch []*writeReq) {
	b := db.pdb.NewIndexedBatch()
	now := db.now().Unix()
	errs := make([]error, len(batch))
	stats := map[*TableDef]*tableStats{}
	var commits []func()
	for i, r := range batch {
		tx := &WriteTx{ReadTx: ReadTx{r: b, now: now}, b: b, db: db, stats: stats}
		errs[i] = call(r.fn, tx)
		tx.release()
		if errs[i] != nil && tx.dirty {
			b.Close()
			if len(batch) == 1 {
				r.done <- errs[i]
				return
			}
			for _, r := range batch {
				db.runBatch([]*writeReq{r})
			}
			return
		}
		commits = append(commits, tx.onCommit...)
	}
	var err error
	for _, st := range stats {
		if !st.changed {
			continue
		}
		var v [16]byte
		binary.BigEndian.PutUint64(v[:], uint64(st.count))
		binary.BigEndian.PutUint64(v[8:], uint64(st.bytes))
		if err = b.Set(st.key, v[:], nil); err != nil {
			break
		}
	}
	// A lone writer (nothing queued behind it) commits synchronously: the
	// hand-off to the sync goroutine would only add a wake-up to its latency.
	if err == nil && !b.Empty() && db.sync.Sync && len(commits) == 0 && db.syncs != nil && len(db.writes) > 0 {
		// Pipelined group commit: the batch is applied (visible to the next
		// batch, as Pebble makes every write visible before its sync) and the
		// loop goes on building the next batch while this one's WAL sync is
		// in flight. Writers are answered only after the sync, in commit order,
		// so every acknowledged write is durable; a later batch that read this
		// one's data is answered after its own, later, sync.
		if err = db.pdb.ApplyNoSyncWait(b, db.sync); err == nil {
			// The commit loop reuses batch's array for the next batch.
			db.syncs <- pendingSync{b: b, batch: append([]*writeReq(nil), batch...), errs: errs}
			return
		}
	} else if err == nil && !b.Empty() {
		err = b.Commit(db.sync)
	}
	b.Close()
	if err == nil {
		for _, f := range commits {
			f()
		}
	}
	answer(batch, errs, err)
}

func answer(batch []*writeReq, errs []error, err error) {
	for i, r := range batch {
		if err != nil {
			errs[i] = fmt.Errorf("commit: %w", err)
		}
		r.done <- errs[i]
	}
}

// syncLoop waits for the WAL sync of each pipelined batch, in commit order,
// and answers its writers.
func (db *DB) syncLoop() {
	defer db.wg.Done()
	for p := range db.syncs {
		err := p.b.SyncWait()
		p.b.Close()
		answer(p.batch, p.errs, err)
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

// OnCommit registers f to run after the batch commits.
func (w *WriteTx) OnCommit(f func()) { w.onCommit = append(w.onCommit, f) }

// GetRaw returns the record at key even if expired (for TTL handling).
func (w *WriteTx) GetRaw(d *TableDef, key []byte) (Record, bool) { return w.getRaw(d, key) }

func (w *WriteTx) set(k, v []byte) error {
	w.dirty = true
	return w.b.Set(k, v, nil)
}

func (w *WriteTx) del(k []byte) error {
	w.dirty = true
	return w.b.Delete(k, nil)
}

// Put stores the item at key, replacing old (the stored item and its record,
// nil when there was none), and maintains indexes, TTL order and stats.
func (w *WriteTx) Put(d *TableDef, key []byte, old attr.Item, oldRec *Record, it attr.Item, size int) error {
	expiry := d.ExpiryOf(it)
	if err := w.set(itemKey(d, key), encodeRecord(it, expiry, size)); err != nil {
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
		pre := indexPrefix(d, x)
		if ok != nil {
			if err := w.del(append(pre[:len(pre):len(pre)], ok...)); err != nil {
				return err
			}
		}
		if nk != nil {
			if err := w.set(append(pre[:len(pre):len(pre)], nk...), key); err != nil {
				return err
			}
		}
	}
	var oldExp int64
	if oldRec != nil {
		oldExp = oldRec.Expiry
	}
	if err := w.moveTTL(d, key, oldExp, expiry); err != nil {
		return err
	}
	dc, db := int64(1), int64(size)
	if oldRec != nil {
		dc, db = 0, int64(size-oldRec.Size)
	}
	w.addStats(d, dc, db)
	return nil
}

// Delete removes the item at key (old is its decoded content).
func (w *WriteTx) Delete(d *TableDef, key []byte, old attr.Item, oldRec Record) error {
	if err := w.del(itemKey(d, key)); err != nil {
		return err
	}
	for _, x := range d.Indexes() {
		if k := x.entryKey(old, key); k != nil {
			if err := w.del(append(indexPrefix(d, x), k...)); err != nil {
				return err
			}
		}
	}
	if err := w.moveTTL(d, key, oldRec.Expiry, 0); err != nil {
		return err
	}
	w.addStats(d, -1, -int64(oldRec.Size))
	return nil
}

func ttlKey(d *TableDef, exp int64, key []byte) []byte {
	k := subPrefix(d, subTTL, 8+len(key))
	k = binary.BigEndian.AppendUint64(k, uint64(exp))
	return append(k, key...)
}

func (w *WriteTx) moveTTL(d *TableDef, key []byte, oldExp, newExp int64) error {
	if oldExp == newExp {
		return nil
	}
	if oldExp > 0 {
		if err := w.del(ttlKey(d, oldExp, key)); err != nil {
			return err
		}
	}
	if newExp > 0 {
		return w.set(ttlKey(d, newExp, key), nil)
	}
	return nil
}

func (w *WriteTx) addStats(d *TableDef, dc, db int64) {
	st := w.tableStats(d)
	w.dirty = true
	st.changed = true
	st.count += dc
	st.bytes += db
}

// tableStats returns the batch's running stats of d, reading them on first use.
func (w *WriteTx) tableStats(d *TableDef) *tableStats {
	if st := w.stats[d]; st != nil {
		return st
	}
	st, _ := w.loadStats(d)
	return st
}

// loadStats reads d's stats key into the batch's running stats and tells
// whether the key exists.
func (w *WriteTx) loadStats(d *TableDef) (*tableStats, bool) {
	k := statsKey(d)
	v := w.get(k)
	c, b := decodeStats(v)
	st := &tableStats{key: k, count: c, bytes: b}
	w.stats[d] = st
	return st, v != nil
}

// Exists reports whether the table's storage exists in this batch (schema
// changes run in batches of their own, so a table whose stats this batch
// already holds exists). The stats read for the answer are kept for the
// write that follows, so a write reads the stats key once.
func (w *WriteTx) Exists(d *TableDef) bool {
	if w.stats[d] != nil {
		return true
	}
	_, ok := w.loadStats(d)
	if !ok {
		delete(w.stats, d)
	}
	return ok
}
