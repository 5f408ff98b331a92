package image

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchTree writes n files of size bytes (a function's code) and returns
// the directory.
func benchTree(b *testing.B, n, size int) string {
	b.Helper()
	dir := b.TempDir()
	content := strings.Repeat("x", size)
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("pkg%d", i%10), fmt.Sprintf("mod%d.py", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkCodeLayerDigest measures what every `esb build` does per layer
// to decide whether it changed (walk, tar framing, SHA-256), next to the
// baseline of reading and hashing the same files' bytes alone, in the same
// run. Compare the ns/op of the two sub-benchmarks:
//
//	go test -run '^$' -bench CodeLayerDigest ./internal/image/
func BenchmarkCodeLayerDigest(b *testing.B) {
	for _, tc := range []struct{ n, size int }{{200, 4 << 10}, {20, 1 << 20}} {
		dir := benchTree(b, tc.n, tc.size)
		name := fmt.Sprintf("%dx%dKB", tc.n, tc.size>>10)
		b.Run(name+"/esb-layer", func(b *testing.B) {
			b.SetBytes(int64(tc.n * tc.size))
			for i := 0; i < b.N; i++ {
				entries, err := copyEntries(dir, "src/", "/var/task/", nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := newLayerFiles(entries).digest(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/baseline-hash-files", func(b *testing.B) {
			b.SetBytes(int64(tc.n * tc.size))
			buf := make([]byte, 256<<10)
			for i := 0; i < b.N; i++ {
				h := sha256.New()
				err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					f, err := os.Open(p)
					if err != nil {
						return err
					}
					defer f.Close()
					_, err = io.CopyBuffer(h, f, buf)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
