package logs

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// spool is the bounded on-disk buffer of lines a store has not taken yet:
// numbered segment files of raw entries (raw.go), oldest first, encoded
// into records only when they are sent. Records go in at the
// newest segment and come out a whole segment at a time from the oldest;
// when the buffer would outgrow its limit, the oldest segments are deleted
// and their lines counted as dropped. Its methods are called with the
// queue's mutex held, except readSegment.
type spool struct {
	dir      string
	maxBytes int64
	segBytes int64

	segs    []segment // oldest first
	size    int64     // bytes in segs
	nextSeq uint64
	open    *os.File // the newest segment, while records are appended to it
	openSeq uint64
	// droppedThrough is the newest segment makeRoom dropped. A segment
	// older than it whose send fails is dropped too (it was spared only
	// because it was being sent), so what the buffer keeps is always the
	// newest records, with no gap.
	droppedThrough uint64
}

// segment is one spool file.
type segment struct {
	seq   uint64
	bytes int64
	lines int // -1: not known (found at start); counted when dropped
	// sending: the shipper is delivering it; it is not dropped meanwhile.
	sending bool
}

const segmentSuffix = ".raw"

// openSpool opens (creating) the spool in dir, finding the segments a
// previous process left behind.
func openSpool(dir string, maxBytes, segBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log buffer %s: %w", dir, err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, segBytes: segBytes, nextSeq: 1}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read log buffer %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if info.Size() == 0 {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		s.segs = append(s.segs, segment{seq: seq, bytes: info.Size(), lines: -1})
		s.size += info.Size()
		if seq >= s.nextSeq {
			s.nextSeq = seq + 1
		}
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	return s, nil
}

func (s *spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segmentSuffix))
}

// empty reports whether no segment waits.
func (s *spool) empty() bool { return len(s.segs) == 0 }

// reserve takes the next sequence number for a batch in flight: should it
// fail, it is written under that number and so goes before anything spilled
// after it was taken.
func (s *spool) reserve() uint64 {
	s.closeOpen()
	seq := s.nextSeq
	s.nextSeq++
	return seq
}

// append writes records (lines of them) after every segment, making room
// first. It returns how many lines were dropped to make room (the oldest,
// or these when even an empty buffer could not hold them).
func (s *spool) append(data []byte, lines int) (dropped int, err error) {
	if len(data) == 0 {
		return 0, nil
	}
	dropped = s.makeRoom(int64(len(data)))
	if s.size+int64(len(data)) > s.maxBytes {
		return dropped + lines, nil
	}
	if s.open == nil || s.segs[len(s.segs)-1].seq != s.openSeq || s.segs[len(s.segs)-1].bytes+int64(len(data)) > s.segBytes {
		s.closeOpen()
		seq := s.nextSeq
		f, err := os.OpenFile(s.path(seq), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return dropped + lines, fmt.Errorf("create log buffer segment: %w", err)
		}
		s.nextSeq++
		s.open, s.openSeq = f, seq
		s.segs = append(s.segs, segment{seq: seq})
	}
	if _, err := s.open.Write(data); err != nil {
		// What went out before the error stays; the segment is closed so
		// the next append starts afresh.
		s.closeOpen()
		return dropped + lines, fmt.Errorf("write log buffer: %w", err)
	}
	last := &s.segs[len(s.segs)-1]
	last.bytes += int64(len(data))
	last.lines += lines
	s.size += int64(len(data))
	return dropped, nil
}

// insert writes a failed batch as its own segment under a reserved number.
// Room is made only from segments older than the batch: dropping newer ones
// to keep it would leave a gap in what is kept, so when nothing older is
// left the batch itself is dropped.
func (s *spool) insert(seq uint64, data []byte, lines int) (dropped int, err error) {
	dropped = s.makeRoomBefore(int64(len(data)), seq)
	if s.size+int64(len(data)) > s.maxBytes {
		return dropped + lines, nil
	}
	if err := os.WriteFile(s.path(seq), data, 0o644); err != nil {
		os.Remove(s.path(seq))
		return dropped + lines, fmt.Errorf("write log buffer: %w", err)
	}
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].seq > seq })
	s.segs = append(s.segs, segment{})
	copy(s.segs[i+1:], s.segs[i:])
	s.segs[i] = segment{seq: seq, bytes: int64(len(data)), lines: lines}
	s.size += int64(len(data))
	return dropped, nil
}

// makeRoom deletes the oldest segments (but one being sent) until n more
// bytes fit, and returns the lines they held.
func (s *spool) makeRoom(n int64) int { return s.makeRoomBefore(n, math.MaxUint64) }

// makeRoomBefore is makeRoom deleting only segments numbered below before.
func (s *spool) makeRoomBefore(n int64, before uint64) int {
	dropped := 0
	for s.size+n > s.maxBytes {
		i := 0
		for i < len(s.segs) && s.segs[i].sending {
			i++
		}
		if i == len(s.segs) || s.segs[i].seq >= before {
			break
		}
		s.droppedThrough = max(s.droppedThrough, s.segs[i].seq)
		dropped += s.drop(i)
	}
	return dropped
}

// drop removes segment i undelivered and returns the lines it held.
func (s *spool) drop(i int) int {
	lines := s.segs[i].lines
	if lines < 0 {
		lines = countLines(s.path(s.segs[i].seq))
	}
	s.remove(i)
	return lines
}

// remove deletes segment i, closing it first if appends go to it, and
// returns it.
func (s *spool) remove(i int) segment {
	seg := s.segs[i]
	if seg.seq == s.openSeq {
		s.closeOpen()
	}
	os.Remove(s.path(seg.seq))
	s.size -= seg.bytes
	s.segs = append(s.segs[:i], s.segs[i+1:]...)
	return seg
}

// oldest marks the oldest segment as being sent and returns its number; the
// newest segment is closed first so appends go to a new one.
func (s *spool) oldest() (uint64, bool) {
	if len(s.segs) == 0 {
		return 0, false
	}
	if s.segs[0].seq == s.openSeq {
		s.closeOpen()
	}
	s.segs[0].sending = true
	return s.segs[0].seq, true
}

// readSegment reads a segment into buf (without the queue's mutex).
func (s *spool) readSegment(seq uint64, buf []byte) ([]byte, error) {
	f, err := os.Open(s.path(seq))
	if err != nil {
		return buf, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return buf, err
	}
	if int64(cap(buf)) < info.Size() {
		buf = make([]byte, 0, info.Size())
	}
	buf = buf[:info.Size()]
	n, err := io.ReadFull(f, buf)
	return buf[:n], err
}

// done removes a delivered segment and returns its line count (-1: unknown).
func (s *spool) done(seq uint64) int {
	for i, seg := range s.segs {
		if seg.seq == seq {
			return s.remove(i).lines
		}
	}
	return 0
}

// failed releases a segment whose delivery failed, to be retried, or drops
// it when newer segments were dropped while it was being sent; it returns
// the lines dropped.
func (s *spool) failed(seq uint64) int {
	for i := range s.segs {
		if s.segs[i].seq != seq {
			continue
		}
		if seq >= s.droppedThrough {
			s.segs[i].sending = false
			return 0
		}
		return s.drop(i)
	}
	return 0
}

func (s *spool) closeOpen() {
	if s.open != nil {
		s.open.Close()
		s.open, s.openSeq = nil, 0
	}
}

// close closes the open segment; the segments stay for the next process.
func (s *spool) close() { s.closeOpen() }

// countLines counts the entries in a segment file.
func countLines(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return countRaw(data)
}
