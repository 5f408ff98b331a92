package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/agent"
)

// memStore is a store kept in memory that can be made to fail or to hang.
type memStore struct {
	mu      sync.Mutex
	data    bytes.Buffer
	fail    atomic.Bool
	gate    chan struct{} // when not nil, send waits for it to close
	batches atomic.Int64
}

func (m *memStore) name() string { return "mem" }
func (m *memStore) close() error { return nil }

func (m *memStore) send(ctx context.Context, b []byte) error {
	m.mu.Lock()
	gate := m.gate
	m.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if m.fail.Load() {
		return errors.New("store down")
	}
	m.mu.Lock()
	m.data.Write(b)
	m.mu.Unlock()
	m.batches.Add(1)
	return nil
}

// messages returns the _msg of every record the store took, in order.
func (m *memStore) messages(t *testing.T) []string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, line := range bytes.Split(bytes.TrimSpace(m.data.Bytes()), []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("store holds a bad record %q: %v", line, err)
		}
		out = append(out, r["_msg"].(string))
	}
	return out
}

func testQueueConfig() queueConfig {
	return queueConfig{memBytes: 64 << 10, batchBytes: 16 << 10, flushInterval: 5 * time.Millisecond,
		closeTimeout: 2 * time.Second, retryMin: 5 * time.Millisecond, retryMax: 20 * time.Millisecond}
}

func startQueue(t *testing.T, cfg queueConfig, st store, sp *spool) *queue {
	t.Helper()
	q := newQueue(cfg, st, sp)
	q.start(slog.New(slog.DiscardHandler))
	return q
}

func addLines(q *queue, container string, from, to int) {
	for i := from; i < to; i++ {
		src := rawSource{service: ServiceFunction, function: "f", containerID: container, stream: "stdout", read: time.Now()}
		q.add(&src, fmt.Appendf(nil, "line %06d", i))
	}
}

func wantSequence(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("store took %d lines, want %d", len(got), n)
	}
	for i, m := range got {
		if want := fmt.Sprintf("line %06d", i); m != want {
			t.Fatalf("line %d is %q, want %q (lost, duplicated or out of order)", i, m, want)
		}
	}
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestQueueDeliversInOrder(t *testing.T) {
	st := &memStore{}
	cfg := testQueueConfig()
	cfg.memBytes = 8 << 20
	q := startQueue(t, cfg, st, nil)
	addLines(q, "c1", 0, 5000)
	q.close()
	wantSequence(t, st.messages(t), 5000)
	if s := q.stats(); s.Lines != 5000 || s.Delivered != 5000 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A store that hangs must not block writers: records spill to the disk
// buffer, and arrive in order, exactly once, when the store answers again.
func TestQueueSlowStoreNeverBlocksWriters(t *testing.T) {
	st := &memStore{gate: make(chan struct{})}
	sp, err := openSpool(t.TempDir(), 64<<20, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	q := startQueue(t, testQueueConfig(), st, sp)
	start := time.Now()
	addLines(q, "c1", 0, 50000) // ~10 MB: far over the memory buffer
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("writers waited %v for a hanging store", d)
	}
	if q.stats().BufferedBytes == 0 {
		t.Fatal("nothing spilled to the disk buffer while the store hung")
	}
	close(st.gate)
	waitUntil(t, "delivery after the store came back", 10*time.Second, func() bool { return q.stats().Delivered == 50000 })
	q.close()
	wantSequence(t, st.messages(t), 50000)
	if s := q.stats(); s.Dropped != 0 || s.BufferedBytes != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A store that is down for a while: records wait on disk and are replayed.
func TestQueueStoreDownThenBack(t *testing.T) {
	st := &memStore{}
	st.fail.Store(true)
	sp, err := openSpool(t.TempDir(), 64<<20, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	q := startQueue(t, testQueueConfig(), st, sp)
	for i := 0; i < 20; i++ {
		addLines(q, "c1", i*500, (i+1)*500)
		time.Sleep(3 * time.Millisecond)
	}
	waitUntil(t, "records in the disk buffer", 5*time.Second, func() bool { return q.stats().StoreErrors > 3 })
	st.fail.Store(false)
	addLines(q, "c1", 10000, 12000)
	waitUntil(t, "replay", 10*time.Second, func() bool { return q.stats().Delivered == 12000 })
	q.close()
	wantSequence(t, st.messages(t), 12000)
}

// The disk buffer's limit drops the oldest records and counts them.
func TestQueueBufferLimitDropsAndCounts(t *testing.T) {
	st := &memStore{}
	st.fail.Store(true)
	dir := t.TempDir()
	sp, err := openSpool(dir, 200<<10, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	var warnings bytes.Buffer
	cfg := testQueueConfig()
	q := newQueue(cfg, st, sp)
	q.start(slog.New(slog.NewTextHandler(&syncWriter{w: &warnings}, nil)))
	addLines(q, "c1", 0, 20000) // ~4 MB into a 200 KB buffer
	waitUntil(t, "spill", 5*time.Second, func() bool { return q.stats().Dropped > 0 })
	st.fail.Store(false)
	waitUntil(t, "delivery", 10*time.Second, func() bool {
		s := q.stats()
		return s.Delivered+s.Dropped == 20000
	})
	q.close()
	s := q.stats()
	got := st.messages(t)
	if uint64(len(got)) != s.Delivered || s.Dropped == 0 {
		t.Fatalf("delivered %d, stats %+v", len(got), s)
	}
	// What is left is the newest records, in order, with no gap — but for
	// one segment whose send was in flight when the store came back while
	// newer lines were being dropped to make room: it is delivered, the
	// dropped ones are not. (Under CPU contention, about one run in ten.)
	nums := make([]int, len(got))
	for i, m := range got {
		if _, err := fmt.Sscanf(m, "line %d", &nums[i]); err != nil {
			t.Fatalf("record %d = %q", i, m)
		}
	}
	gaps := 0
	for i := 1; i < len(nums); i++ {
		switch {
		case nums[i] <= nums[i-1]:
			t.Fatalf("record %d = %d after %d: out of order or repeated", i, nums[i], nums[i-1])
		case nums[i] != nums[i-1]+1:
			gaps++
		}
	}
	if len(nums) == 0 || nums[len(nums)-1] != 19999 || gaps > 1 {
		t.Fatalf("kept %d records with %d gaps; want the newest, with at most one segment in flight before them", len(nums), gaps)
	}
	if !strings.Contains(warnings.String(), "log lines dropped") {
		t.Errorf("no warning about dropped lines:\n%s", warnings.String())
	}
	if fi, _ := os.ReadDir(dir); len(fi) != 0 {
		t.Errorf("buffer not empty after delivery: %d files", len(fi))
	}
}

// Without a disk buffer, the memory limit drops and counts.
func TestQueueNoSpoolDropsAtMemoryLimit(t *testing.T) {
	st := &memStore{gate: make(chan struct{})}
	q := startQueue(t, testQueueConfig(), st, nil)
	addLines(q, "c1", 0, 5000)
	if q.stats().Dropped == 0 {
		t.Fatal("nothing dropped past the memory limit without a disk buffer")
	}
	close(st.gate)
	q.close()
	if s := q.stats(); s.Delivered+s.Dropped != 5000 {
		t.Errorf("stats %+v", s)
	}
}

// Records left in the disk buffer at close are delivered by the next
// process, before anything new.
func TestQueueReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	down := &memStore{}
	down.fail.Store(true)
	sp, err := openSpool(dir, 64<<20, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testQueueConfig()
	cfg.closeTimeout = 50 * time.Millisecond
	q := startQueue(t, cfg, down, sp)
	addLines(q, "c1", 0, 3000)
	q.close()
	if q.stats().Dropped != 0 {
		t.Fatalf("dropped at close: %+v", q.stats())
	}

	up := &memStore{}
	sp2, err := openSpool(dir, 64<<20, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	q2 := startQueue(t, testQueueConfig(), up, sp2)
	addLines(q2, "c1", 3000, 4000)
	waitUntil(t, "replay", 10*time.Second, func() bool { return q2.stats().Delivered >= 1000 && sp2Empty(q2) })
	q2.close()
	wantSequence(t, up.messages(t), 4000)
}

func sp2Empty(q *queue) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.spool.empty() && q.rawLines == 0
}

// Concurrent writers (one goroutine per container stream, as the agent
// calls the sink): every container's lines arrive complete and in order.
func TestQueueConcurrentContainers(t *testing.T) {
	st := &memStore{}
	sp, err := openSpool(t.TempDir(), 64<<20, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	q := startQueue(t, testQueueConfig(), st, sp)
	sink := agentSink{q: q}
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				// esb-rie stamps microseconds: many lines share one.
				line := fmt.Appendf(nil, `{"time":"2026-11-27T16:00:00.000001Z","type":"function","level":"info","function":"f","request_id":"r%d","message":"c%d %06d"}`, c, c, i)
				sink.WriteLine(agent.LogLine{Function: "f", Project: "p", ContainerID: fmt.Sprint("c", c), Stream: "stdout", Time: time.Now(), Text: line})
			}
		}()
	}
	wg.Wait()
	q.close()
	st.mu.Lock()
	data := st.data.Bytes()
	st.mu.Unlock()
	var entries []Entry
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte{'\n'}) {
		e, ok := parseEntry(line)
		if !ok {
			t.Fatalf("bad record %s", line)
		}
		entries = append(entries, e)
	}
	// Sorting by time (as a query does) keeps each container's order.
	sortEntries(entries)
	next := map[string]int{}
	for _, e := range entries {
		c := e.Get(FieldContainerID)
		want := fmt.Sprintf("%s %06d", c, next[c])
		if e.Get(FieldMsg) != want {
			t.Fatalf("container %s: got %q, want %q", c, e.Get(FieldMsg), want)
		}
		next[c]++
	}
	for c := 0; c < 8; c++ {
		if n := next[fmt.Sprint("c", c)]; n != 2000 {
			t.Errorf("container c%d: %d lines", c, n)
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestSpoolSurvivesUnknownFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	two := appendRaw(nil, &rawSource{service: "s3", read: time.Now()}, []byte("a"))
	two = appendRaw(two, &rawSource{service: "s3", read: time.Now()}, []byte("b"))
	os.WriteFile(filepath.Join(dir, "00000000000000000007.raw"), two, 0o644)
	os.WriteFile(filepath.Join(dir, "00000000000000000009.raw"), nil, 0o644)
	sp, err := openSpool(dir, 1<<20, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.segs) != 1 || sp.segs[0].seq != 7 || sp.nextSeq != 8 {
		t.Fatalf("segments %+v next %d", sp.segs, sp.nextSeq)
	}
	if n := sp.makeRoom(1 << 20); n != 2 {
		t.Errorf("dropping a found segment counted %d lines, want 2", n)
	}
}

// The buffer keeps the newest records with no gap: a failed batch older
// than what is buffered is dropped rather than evicting newer segments, and a
// segment spared only because it was being sent goes once its send fails.
func TestSpoolKeepsNewestWithoutGap(t *testing.T) {
	sp, err := openSpool(t.TempDir(), 100, 40)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(c byte, n int) []byte { return append(bytes.Repeat([]byte{c}, n-1), '\n') }

	old := sp.reserve() // a batch in flight...
	if d, err := sp.append(rec('b', 60), 1); d != 0 || err != nil {
		t.Fatalf("append: dropped %d, %v", d, err)
	}
	// ...fails after newer lines were buffered: there is room only by
	// evicting them, so the older batch goes instead.
	if d, err := sp.insert(old, rec('a', 60), 1); d != 1 || err != nil {
		t.Fatalf("insert of the older batch: dropped %d, %v; want 1", d, err)
	}
	if seq, _ := sp.oldest(); seq != old+1 {
		t.Fatalf("oldest segment %d, want the newer %d", seq, old+1)
	}
	// The newer segment is being sent; more lines arrive and need its room,
	// so the next one after it is dropped and it is spared...
	if d, _ := sp.append(rec('c', 30), 1); d != 0 {
		t.Fatalf("append c dropped %d", d)
	}
	if d, _ := sp.append(rec('d', 30), 1); d != 1 {
		t.Fatalf("append d dropped %d, want 1 (c)", d)
	}
	// ...until its send fails: then it goes too, as it is older than c.
	if d := sp.failed(old + 1); d != 1 {
		t.Fatalf("failed send of a spared segment dropped %d, want 1", d)
	}
	if len(sp.segs) != 1 || sp.size != 30 {
		t.Fatalf("left %+v (%d bytes), want only d", sp.segs, sp.size)
	}
}
