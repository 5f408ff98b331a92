package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
	bolt "go.etcd.io/bbolt"
)

// Table-level errors the API maps to DynamoDB's exceptions.
var (
	ErrTableExists   = fmt.Errorf("table exists")
	ErrTableNotFound = fmt.Errorf("table not found")
)

func putDef(tx *bolt.Tx, d *TableDef) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketTables).Put([]byte(d.Name), data)
}

// CreateTable creates the table's storage and catalogue entry.
func (db *DB) CreateTable(ctx context.Context, d *TableDef) error {
	return db.write(ctx, func(w *WriteTx) error {
		if w.tx.Bucket(bucketTables).Get([]byte(d.Name)) != nil {
			return ErrTableExists
		}
		w.dirty = true
		tb, err := w.tx.CreateBucket(tableBucketName(d))
		if err != nil {
			return err
		}
		if _, err := tb.CreateBucket(bucketItems); err != nil {
			return err
		}
		if _, err := tb.CreateBucket(bucketTTL); err != nil {
			return err
		}
		for _, x := range d.Indexes() {
			if _, err := tb.CreateBucket(indexBucketName(x)); err != nil {
				return err
			}
		}
		if err := putDef(w.tx, d); err != nil {
			return err
		}
		w.OnCommit(func() { db.setTable(d.Name, d) })
		return nil
	}, true)
}

// DeleteTable drops the table and all its data.
func (db *DB) DeleteTable(ctx context.Context, name string) (*TableDef, error) {
	var def *TableDef
	err := db.write(ctx, func(w *WriteTx) error {
		d := db.Table(name)
		if d == nil {
			return ErrTableNotFound
		}
		w.dirty = true
		if err := w.tx.DeleteBucket(tableBucketName(d)); err != nil && err != bolt.ErrBucketNotFound {
			return err
		}
		if err := w.tx.Bucket(bucketTables).Delete([]byte(name)); err != nil {
			return err
		}
		def = d
		w.OnCommit(func() { db.setTable(name, nil) })
		return nil
	}, true)
	return def, err
}

// UpdateTable replaces a table's definition with next, building the storage
// of added indexes (backfilled from the items) and dropping removed ones. A
// TTL change rewrites the item expiries.
func (db *DB) UpdateTable(ctx context.Context, name string, change func(cur *TableDef) (*TableDef, error)) (*TableDef, error) {
	var out *TableDef
	err := db.write(ctx, func(w *WriteTx) error {
		cur := db.Table(name)
		if cur == nil {
			return ErrTableNotFound
		}
		next, err := change(cur)
		if err != nil {
			return err
		}
		w.dirty = true
		tb := w.tableBucket(cur)
		for _, x := range cur.Indexes() {
			if next.Index(x.Name) == nil {
				if err := tb.DeleteBucket(indexBucketName(x)); err != nil {
					return err
				}
			}
		}
		var added []*IndexDef
		for _, x := range next.Indexes() {
			if cur.Index(x.Name) == nil {
				if _, err := tb.CreateBucket(indexBucketName(x)); err != nil {
					return err
				}
				added = append(added, x)
			}
		}
		ttlChanged := cur.TTLEnabled != next.TTLEnabled || cur.TTLAttr != next.TTLAttr
		if len(added) > 0 || ttlChanged {
			if err := rebuild(tb, next, added, ttlChanged); err != nil {
				return err
			}
		}
		if err := putDef(w.tx, next); err != nil {
			return err
		}
		out = next
		w.OnCommit(func() { db.setTable(name, next) })
		return nil
	}, true)
	return out, err
}

// rebuild backfills added indexes and, when TTL changed, rewrites expiries.
func rebuild(tb *bolt.Bucket, d *TableDef, added []*IndexDef, ttlChanged bool) error {
	items := tb.Bucket(bucketItems)
	if ttlChanged {
		if err := tb.DeleteBucket(bucketTTL); err != nil && err != bolt.ErrBucketNotFound {
			return err
		}
		if _, err := tb.CreateBucket(bucketTTL); err != nil {
			return err
		}
	}
	ttl := tb.Bucket(bucketTTL)
	type rewrite struct{ k, v []byte }
	var rewrites []rewrite
	c := items.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rec, ok := decodeRecord(v)
		if !ok {
			continue
		}
		it, err := attr.DecodeItem(rec.JSON)
		if err != nil {
			return fmt.Errorf("decode stored item: %w", err)
		}
		for _, x := range added {
			if ek := x.entryKey(it, k); ek != nil {
				if err := tb.Bucket(indexBucketName(x)).Put(ek, append([]byte(nil), k...)); err != nil {
					return err
				}
			}
		}
		if ttlChanged {
			exp := d.ExpiryOf(it)
			if exp != rec.Expiry {
				nv := append([]byte(nil), v...)
				encodeExpiry(nv, exp)
				rewrites = append(rewrites, rewrite{append([]byte(nil), k...), nv})
			}
			if exp > 0 {
				if err := ttl.Put(ttlKey(exp, k), nil); err != nil {
					return err
				}
			}
		}
	}
	for _, r := range rewrites {
		if err := items.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

func encodeExpiry(v []byte, exp int64) {
	for i := 0; i < 8; i++ {
		v[1+i] = byte(uint64(exp) >> (56 - 8*i))
	}
}

// ---- TTL sweeper ----

// SweepExpired deletes up to limit expired items of every table with TTL
// enabled, maintaining indexes, and returns how many it deleted.
func (db *DB) SweepExpired(ctx context.Context, limit int) (int, error) {
	total := 0
	for _, d := range db.Tables() {
		if !d.TTLEnabled {
			continue
		}
		var keys [][]byte
		now := db.now().Unix()
		err := db.View(func(r *ReadTx) error {
			tb := r.tableBucket(d)
			if tb == nil {
				return nil
			}
			c := tb.Bucket(bucketTTL).Cursor()
			for k, _ := c.First(); k != nil && len(keys) < limit; k, _ = c.Next() {
				exp := int64(0)
				for i := 0; i < 8; i++ {
					exp = exp<<8 | int64(k[i])
				}
				if exp >= now {
					break
				}
				keys = append(keys, append([]byte(nil), k[8:]...))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			continue
		}
		n := 0
		err = db.Write(ctx, func(w *WriteTx) error {
			n = 0
			cur := db.Table(d.Name)
			if cur == nil || cur.ID != d.ID || !cur.TTLEnabled {
				return nil
			}
			for _, k := range keys {
				rec, ok := w.GetRaw(cur, k)
				if !ok || !rec.Expired(cur, w.now) {
					continue
				}
				it, err := attr.DecodeItem(rec.JSON)
				if err != nil {
					return err
				}
				if err := w.Delete(cur, k, it, rec); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("delete expired items of %s: %w", d.Name, err)
		}
		total += n
	}
	return total, nil
}

// RunSweeper deletes expired items every interval until ctx ends.
func (db *DB) RunSweeper(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for {
				n, err := db.SweepExpired(ctx, 1000)
				if err != nil {
					if ctx.Err() == nil && err != ErrClosed {
						log.Warn("ttl sweep failed", "err", err)
					}
					break
				}
				if n > 0 {
					log.Debug("ttl sweep", "deleted", n)
				}
				if n < 1000 {
					break
				}
			}
		}
	}
}
