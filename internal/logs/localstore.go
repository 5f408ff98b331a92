package logs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The local store: when no VictoriaLogs is configured, each daemon's
// pipeline writes its records to <log dir>/store/<service>/, one JSON line
// per record, into files named by the time they were started
// (20261127T160000.123456789Z.jsonl). A file is closed at MaxFileBytes and a
// new one begun; the oldest files go when the directory outgrows MaxBytes,
// and files older than MaxAge go too. Files are never renamed, so a reader
// that follows them needs only their names and sizes.

const storeSuffix = ".jsonl"

// localStore writes one service's records.
type localStore struct {
	dir      string
	maxFile  int64
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time

	f        *os.File
	fileSize int64
	lastTrim time.Time
}

func openLocalStore(dir string, maxFile, maxBytes int64, maxAge time.Duration) (*localStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log store %s: %w", dir, err)
	}
	s := &localStore{dir: dir, maxFile: maxFile, maxBytes: maxBytes, maxAge: maxAge, now: time.Now}
	// Continue the newest file when it has room: a restart does not leave
	// a trail of small files.
	files, _ := storeFiles(dir)
	if n := len(files); n > 0 && files[n-1].size < maxFile {
		f, err := os.OpenFile(files[n-1].path, os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			s.f, s.fileSize = f, files[n-1].size
		}
	}
	return s, nil
}

func (s *localStore) name() string { return "local" }

func (s *localStore) send(_ context.Context, batch []byte) error {
	if s.f == nil || (s.fileSize > 0 && s.fileSize+int64(len(batch)) > s.maxFile) {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	n, err := s.f.Write(batch)
	s.fileSize += int64(n)
	if err != nil {
		return fmt.Errorf("write log store %s: %w", s.f.Name(), err)
	}
	if now := s.now(); now.Sub(s.lastTrim) > time.Minute {
		s.trim(now)
	}
	return nil
}

// rotate starts a new file and trims old ones.
func (s *localStore) rotate() error {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	now := s.now()
	name := now.UTC().Format("20060102T150405.000000000Z") + storeSuffix
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("create log store file: %w", err)
	}
	s.f, s.fileSize = f, 0
	s.trim(now)
	return nil
}

// trim deletes the oldest files beyond maxBytes and files older than maxAge
// (never the file being written).
func (s *localStore) trim(now time.Time) {
	s.lastTrim = now
	files, err := storeFiles(s.dir)
	if err != nil {
		return
	}
	current := ""
	if s.f != nil {
		current = s.f.Name()
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	for _, f := range files {
		if f.path == current {
			continue
		}
		if total > s.maxBytes || (s.maxAge > 0 && now.Sub(f.mtime) > s.maxAge) {
			if os.Remove(f.path) == nil {
				total -= f.size
			}
		}
	}
}

func (s *localStore) close() error {
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}

// storeFile is one file of a store directory.
type storeFile struct {
	path  string
	size  int64
	mtime time.Time
}

// storeFiles lists a store directory's files (or a disk buffer's
// segments), oldest first.
func storeFiles(dir string) ([]storeFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []storeFile
	for _, e := range ents {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), storeSuffix) || strings.HasSuffix(e.Name(), segmentSuffix)) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, storeFile{path: filepath.Join(dir, e.Name()), size: info.Size(), mtime: info.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}
