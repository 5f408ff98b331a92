package gw

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkStorePutObject measures one PutObject below HTTP: esb's plain-object
// path, versitygw's own PutObject (the baseline it replaces) and os.WriteFile
// of the same bytes (the disk floor), in the same run:
//
//	go test -run '^$' -bench StorePutObject -benchtime 2s ./internal/s3/gw/
func BenchmarkStorePutObject(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 20} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i*7 + i>>9)
		}
		name := strconv.Itoa(size>>10) + "KiB"
		if size >= 1<<20 {
			name = strconv.Itoa(size>>20) + "MiB"
		}
		b.Run(name+"/esb", func(b *testing.B) {
			st, _ := openBenchStore(b)
			benchPut(b, size, func(key string) error {
				_, err := st.PutObject(context.Background(), putInput("bkt", key, body))
				return err
			})
		})
		b.Run(name+"/versitygw", func(b *testing.B) {
			st, _ := openBenchStore(b)
			benchPut(b, size, func(key string) error {
				_, err := st.Posix.PutObject(context.Background(), putInput("bkt", key, body))
				return err
			})
		})
		b.Run(name+"/disk", func(b *testing.B) {
			dir := b.TempDir()
			benchPut(b, size, func(key string) error {
				p := filepath.Join(dir, key)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				return os.WriteFile(p, body, 0o644)
			})
		})
	}
}

func openBenchStore(b *testing.B) (*store, string) {
	st, root := openTestStore(b)
	createBucket(b, st, "bkt")
	return st, root
}

func benchPut(b *testing.B, size int, put func(key string) error) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// 50 directories, distinct keys: the bench/s3 pattern.
		if err := put("d" + strconv.Itoa(i%50) + "/obj-" + strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
