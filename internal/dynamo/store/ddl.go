package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

// Table-level errors the API maps to DynamoDB's exceptions.
var (
	ErrTableExists   = errors.New("table exists")
	ErrTableNotFound = errors.New("table not found")
)

func (w *WriteTx) putDef(d *TableDef) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return w.set(catalogKey(d.Name), data)
}

// CreateTable creates the table's catalogue entry and empty storage.
func (db *DB) CreateTable(ctx context.Context, d *TableDef) error {
	return db.write(ctx, func(w *WriteTx) error {
		if w.get(catalogKey(d.Name)) != nil {
			return ErrTableExists
		}
		if err := w.putDef(d); err != nil {
			return err
		}
		if err := w.set(statsKey(d), make([]byte, 16)); err != nil {
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
		pre := tablePrefix(d)
		w.dirty = true
		if err := w.b.DeleteRange(pre, prefixEnd(pre), nil); err != nil {
			return err
		}
		if err := w.del(catalogKey(name)); err != nil {
			return err
		}
		def = d
		w.OnCommit(func() { db.setTable(name, nil) })
		return nil
	}, true)
	return def, err
}

// UpdateTable replaces a table's definition with what change returns,
// building the entries of added indexes from the items (backfill) and
// dropping removed ones. A TTL change rewrites the item expiries.
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
		for _, x := range cur.Indexes() {
			if next.Index(x.Name) == nil {
				pre := indexPrefix(cur, x)
				w.dirty = true
				if err := w.b.DeleteRange(pre, prefixEnd(pre), nil); err != nil {
					return err
				}
			}
		}
		var added []*IndexDef
		for _, x := range next.Indexes() {
			if cur.Index(x.Name) == nil {
				added = append(added, x)
			}
		}
		ttlChanged := cur.TTLEnabled != next.TTLEnabled || cur.TTLAttr != next.TTLAttr
		if len(added) > 0 || ttlChanged {
			if err := db.rebuild(w, next, added, ttlChanged); err != nil {
				return err
			}
		}
		if err := w.putDef(next); err != nil {
			return err
		}
		out = next
		w.OnCommit(func() { db.setTable(name, next) })
		return nil
	}, true)
	return out, err
}

// rebuild backfills added indexes and, when TTL changed, rewrites expiries.
// It reads the committed items (a schema change runs in a batch of its own).
func (db *DB) rebuild(w *WriteTx, d *TableDef, added []*IndexDef, ttlChanged bool) error {
	if ttlChanged {
		pre := subPrefix(d, subTTL, 0)
		w.dirty = true
		if err := w.b.DeleteRange(pre, prefixEnd(pre), nil); err != nil {
			return err
		}
	}
	pre := subPrefix(d, subItems, 0)
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: pre, UpperBound: prefixEnd(pre)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		rec, ok := decodeRecord(v)
		if !ok {
			continue
		}
		key := append([]byte(nil), it.Key()[len(pre):]...)
		item, err := attr.DecodeItem(rec.JSON)
		if err != nil {
			return fmt.Errorf("decode stored item: %w", err)
		}
		for _, x := range added {
			if ek := x.entryKey(item, key); ek != nil {
				if err := w.set(append(indexPrefix(d, x), ek...), key); err != nil {
					return err
				}
			}
		}
		if ttlChanged {
			exp := d.ExpiryOf(item)
			if exp != rec.Expiry {
				nv := append([]byte(nil), v...)
				binary.BigEndian.PutUint64(nv[1:], uint64(exp))
				if err := w.set(itemKey(d, key), nv); err != nil {
					return err
				}
			}
			if exp > 0 {
				if err := w.set(ttlKey(d, exp, key), nil); err != nil {
					return err
				}
			}
		}
	}
	return it.Error()
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
		pre := subPrefix(d, subTTL, 0)
		err := db.View(func(r *ReadTx) error {
			it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: pre, UpperBound: prefixEnd(pre)})
			if err != nil {
				return err
			}
			defer it.Close()
			for ok := it.First(); ok && len(keys) < limit; ok = it.Next() {
				k := it.Key()[len(pre):]
				if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) >= now {
					break
				}
				keys = append(keys, append([]byte(nil), k[8:]...))
			}
			return it.Error()
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
				if !ok || !rec.Expired(cur, w.Now()) {
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
					if ctx.Err() == nil && !errors.Is(err, ErrClosed) {
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
