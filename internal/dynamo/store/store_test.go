package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

var bg = context.Background()

func num(s string) attr.Value { return attr.Value{Kind: attr.KindN, S: s} }

func testDef() *TableDef {
	return &TableDef{
		Name: "t", ID: "id1", Hash: KeyAttr{Name: "pk", Type: attr.KindS}, Range: &KeyAttr{Name: "sk", Type: attr.KindN},
		GSIs: []IndexDef{{Name: "byG", Global: true, Hash: KeyAttr{Name: "g", Type: attr.KindS}, ProjectionType: "ALL"}},
	}
}

func open(t *testing.T, dir string, now func() time.Time) *DB {
	t.Helper()
	db, err := Open(Options{Dir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func put(t *testing.T, db *DB, it attr.Item) {
	t.Helper()
	err := db.Write(bg, func(w *WriteTx) error {
		d := db.Table("t")
		k, ok := d.ItemKey(it)
		if !ok {
			return errors.New("bad key")
		}
		var old attr.Item
		rec, found := w.GetRaw(d, k)
		var recp *Record
		if found {
			old, _ = attr.DecodeItem(rec.JSON)
			recp = &rec
		}
		return w.Put(d, k, old, recp, it, attr.ItemSize(it))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func scan(db *DB, d *TableDef, x *IndexDef) []attr.Item {
	var out []attr.Item
	_ = db.View(func(r *ReadTx) error {
		r.Iterate(d, x, Range{}, false, func(_ []byte, rec Record) bool {
			it, _ := attr.DecodeItem(rec.JSON)
			out = append(out, it)
			return true
		})
		return nil
	})
	return out
}

func TestPersistenceIndexesAndStats(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTable(bg, testDef()); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTable(bg, testDef()); !errors.Is(err, ErrTableExists) {
		t.Fatalf("second create: %v", err)
	}
	for i := 0; i < 10; i++ {
		put(t, db, attr.Item{"pk": attr.Str("p"), "sk": num(strconv.Itoa(i)), "g": attr.Str("g" + strconv.Itoa(i%2))})
	}
	put(t, db, attr.Item{"pk": attr.Str("p"), "sk": num("3"), "g": attr.Str("g0")}) // moves 3 from g1 to g0
	db.Close()

	db = open(t, dir, nil)
	d := db.Table("t")
	if d == nil {
		t.Fatal("table lost on reopen")
	}
	items := scan(db, d, nil)
	if len(items) != 10 {
		t.Fatalf("%d items after reopen", len(items))
	}
	g0 := 0
	for _, it := range scan(db, d, d.Index("byG")) {
		if it["g"].S == "g0" {
			g0++
		}
	}
	if g0 != 6 {
		t.Fatalf("index has %d g0 entries; want 6", g0)
	}
	_ = db.View(func(r *ReadTx) error {
		if c, _ := r.Stats(d); c != 10 {
			t.Fatalf("stats count %d", c)
		}
		return nil
	})
}

func TestFailedWriteRollsBackAlone(t *testing.T) {
	db := open(t, t.TempDir(), nil)
	if err := db.CreateTable(bg, testDef()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Write(bg, func(w *WriteTx) error {
				d := db.Table("t")
				it := attr.Item{"pk": attr.Str("p"), "sk": num(strconv.Itoa(i))}
				k, _ := d.ItemKey(it)
				if err := w.Put(d, k, nil, nil, it, 10); err != nil {
					return err
				}
				if i%2 == 1 {
					return errors.New("fail after writing")
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i%2 == 1) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	items := scan(db, db.Table("t"), nil)
	if len(items) != 10 {
		t.Fatalf("%d items; want the 10 successful writes only", len(items))
	}
	for _, it := range items {
		if n, _ := strconv.Atoi(it["sk"].S); n%2 == 1 {
			t.Fatalf("failed write %d is visible", n)
		}
	}
}

func TestTTLSweepAndHiding(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db := open(t, t.TempDir(), clock)
	def := testDef()
	if err := db.CreateTable(bg, def); err != nil {
		t.Fatal(err)
	}
	put(t, db, attr.Item{"pk": attr.Str("p"), "sk": num("1"), "exp": num("999000"), "g": attr.Str("x")})
	put(t, db, attr.Item{"pk": attr.Str("p"), "sk": num("2"), "exp": num("1000500")})
	// TTL enabled after the items exist: expiries are backfilled.
	if _, err := db.UpdateTable(bg, "t", func(cur *TableDef) (*TableDef, error) {
		next := *cur
		next.TTLEnabled, next.TTLAttr = true, "exp"
		return &next, nil
	}); err != nil {
		t.Fatal(err)
	}
	d := db.Table("t")
	if got := len(scan(db, d, nil)); got != 1 {
		t.Fatalf("%d items visible; want 1 (one expired)", got)
	}
	if got := len(scan(db, d, d.Index("byG"))); got != 0 {
		t.Fatalf("expired item visible through the index")
	}
	n, err := db.SweepExpired(bg, 100)
	if err != nil || n != 1 {
		t.Fatalf("sweep deleted %d, %v", n, err)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if n, _ := db.SweepExpired(bg, 100); n != 1 {
		t.Fatalf("second sweep deleted %d", n)
	}
	_ = db.View(func(r *ReadTx) error {
		if c, _ := r.Stats(d); c != 0 {
			t.Fatalf("count %d after sweeps", c)
		}
		return nil
	})
}

func TestReverseIterationAndRanges(t *testing.T) {
	db := open(t, t.TempDir(), nil)
	if err := db.CreateTable(bg, testDef()); err != nil {
		t.Fatal(err)
	}
	for i := -5; i <= 5; i++ {
		put(t, db, attr.Item{"pk": attr.Str("p"), "sk": num(strconv.Itoa(i))})
	}
	put(t, db, attr.Item{"pk": attr.Str("other"), "sk": num("0")})
	d := db.Table("t")
	pre := PartitionPrefix(attr.Str("p"))
	lo := attr.AppendKey(append([]byte(nil), pre...), num("-2"))
	hi := attr.PrefixEnd(attr.AppendKey(append([]byte(nil), pre...), num("3")))
	var got []string
	_ = db.View(func(r *ReadTx) error {
		r.Iterate(d, nil, Range{Lo: lo, Hi: hi}, true, func(_ []byte, rec Record) bool {
			it, _ := attr.DecodeItem(rec.JSON)
			got = append(got, it["sk"].S)
			return true
		})
		return nil
	})
	want := "[3 2 1 0 -1 -2]"
	if s := fmtList(got); s != want {
		t.Fatalf("reverse range = %s; want %s", s, want)
	}
}

func fmtList(l []string) string {
	s := "["
	for i, x := range l {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s + "]"
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, nil)
	_, err := Open(Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "another process holds this data directory") {
		t.Fatalf("second open: %v", err)
	}
}

// With syncing off (--sync off) acknowledged writes are still all there after
// a clean close and reopen, whether they committed alone or in batches.
func TestNoSyncWritesSurviveCleanClose(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTable(bg, testDef()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				put(t, db, attr.Item{"pk": attr.Str("p" + strconv.Itoa(w)), "sk": num(strconv.Itoa(i)), "g": attr.Str("g")})
			}
		}(w)
	}
	wg.Wait()
	put(t, db, attr.Item{"pk": attr.Str("last"), "sk": num("0"), "g": attr.Str("g")})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir, nil)
	if n := len(scan(db, db.Table("t"), nil)); n != 401 {
		t.Fatalf("%d items after reopen; want 401", n)
	}
}
