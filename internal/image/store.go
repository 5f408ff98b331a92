package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
)

// Store is the build cache: a content-addressed blob store on disk. Layers,
// image configs and manifests are kept under <dir>/blobs/sha256/<hex>, so a
// layer whose content did not change has the same digest and is found again.
// Writers go through a temporary file and a rename, so concurrent builds and
// interrupted ones never leave a partial blob under a digest.
type Store struct {
	dir string
}

// OpenStore opens (and creates) the cache directory.
func OpenStore(dir string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "tmp"), filepath.Join(dir, "bases")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create build cache %s: %w", dir, err)
		}
	}
	return &Store{dir: dir}, nil
}

// Dir is the cache directory.
func (s *Store) Dir() string { return s.dir }

// Path is where the blob with digest d is (or would be) stored.
func (s *Store) Path(d digest.Digest) string {
	return filepath.Join(s.dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// Has reports whether the blob is in the store, and marks it used (its
// modification time is the last build that needed it).
func (s *Store) Has(d digest.Digest) bool {
	p := s.Path(d)
	if _, err := os.Stat(p); err != nil {
		return false
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // best effort: only used to find unused blobs
	return true
}

// Blob is a stored blob.
type Blob struct {
	Digest digest.Digest
	Size   int64
}

// Write stores what write produces and returns its digest. An existing blob
// with the same digest is replaced only when replace is set (--no-cache).
func (s *Store) Write(write func(io.Writer) error, replace bool) (Blob, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-")
	if err != nil {
		return Blob{}, fmt.Errorf("write to build cache: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err := write(cw); err != nil {
		f.Close()
		return Blob{}, err
	}
	if err := f.Close(); err != nil {
		return Blob{}, fmt.Errorf("write to build cache: %w", err)
	}
	b := Blob{Digest: digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), Size: cw.n}
	dst := s.Path(b.Digest)
	if !replace {
		if _, err := os.Stat(dst); err == nil {
			return b, nil
		}
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return Blob{}, fmt.Errorf("write to build cache: %w", err)
	}
	return b, nil
}

// Put stores data.
func (s *Store) Put(data []byte) (Blob, error) {
	return s.Write(func(w io.Writer) error { _, err := w.Write(data); return err }, false)
}

// Read returns a stored blob's content.
func (s *Store) Read(d digest.Digest) ([]byte, error) {
	data, err := os.ReadFile(s.Path(d))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("blob %s is not in the build cache %s", d, s.dir)
		}
		return nil, fmt.Errorf("read build cache: %w", err)
	}
	return data, nil
}

// Prune removes blobs no build used for longer than maxAge, and leftovers of
// interrupted writes. It returns how many blobs it removed and their size.
func (s *Store) Prune(maxAge time.Duration) (n int, size int64, err error) {
	cut := time.Now().Add(-maxAge)
	for _, sub := range []string{filepath.Join("blobs", "sha256"), "tmp"} {
		dir := filepath.Join(s.dir, sub)
		entries, rerr := os.ReadDir(dir)
		if rerr != nil {
			return n, size, fmt.Errorf("prune build cache: %w", rerr)
		}
		for _, e := range entries {
			fi, ierr := e.Info()
			if ierr != nil || fi.ModTime().After(cut) {
				continue
			}
			if os.Remove(filepath.Join(dir, e.Name())) == nil {
				n++
				size += fi.Size()
			}
		}
	}
	return n, size, nil
}

// countWriter counts bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
