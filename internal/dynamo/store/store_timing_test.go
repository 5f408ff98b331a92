package store

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

// Group commit: BenchmarkCommitSerial is the baseline (one writer, one fsync
// per write); BenchmarkCommitGrouped runs 32 writers that share syncs. The
// ratio of their ns/op is the gain of group commit on this disk.
//
//	go test -run XXX -bench Commit ./internal/dynamo/store/

func benchDB(b *testing.B) *DB {
	db, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.CreateTable(bg, testDef()); err != nil {
		b.Fatal(err)
	}
	return db
}

func writeOne(b *testing.B, db *DB, i int64) {
	it := attr.Item{"pk": attr.Str("p" + strconv.FormatInt(i, 10)), "sk": num("1"), "payload": attr.Str("0123456789012345678901234567890123456789")}
	err := db.Write(bg, func(w *WriteTx) error {
		d := db.Table("t")
		k, _ := d.ItemKey(it)
		return w.Put(d, k, nil, nil, it, attr.ItemSize(it))
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCommitSerial(b *testing.B) {
	db := benchDB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writeOne(b, db, int64(i))
	}
}

func BenchmarkCommitGrouped(b *testing.B) {
	db := benchDB(b)
	var n atomic.Int64
	b.SetParallelism(16) // 32 writers on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			writeOne(b, db, n.Add(1))
		}
	})
}

func BenchmarkGet(b *testing.B) {
	db := benchDB(b)
	for i := 0; i < 1000; i++ {
		writeOne(b, db, int64(i))
	}
	d := db.Table("t")
	key, _ := d.ItemKey(attr.Item{"pk": attr.Str("p500"), "sk": num("1")})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = db.View(func(r *ReadTx) error {
			if _, ok := r.Get(d, key); !ok {
				b.Fatal("missing")
			}
			return nil
		})
	}
}
