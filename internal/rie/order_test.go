package rie

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedWriter holds back every write that contains gate until open is
// closed (a slow log reader), and records what was written.
type gatedWriter struct {
	gate string
	open chan struct{}
	mu   sync.Mutex
	b    bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(g.gate)) {
		<-g.open
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.b.Write(p)
}

func (g *gatedWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.b.String()
}

// The caller gets its response before END and REPORT are printed, as on
// AWS: a log writer stuck on END does not hold the response back.
func TestInvokeRespondsBeforeEndReport(t *testing.T) {
	cfg := &Config{FunctionName: "fn", FunctionVersion: "$LATEST", MemoryMB: 128, Region: "us-east-1",
		AccountID: "123456789012", Timeout: 5 * time.Second, InitTimeout: 5 * time.Second}
	out := &gatedWriter{gate: "END RequestId: gated", open: make(chan struct{})}
	sink := NewLogSink(out, LogText, cfg.FunctionName)
	sp := &fakeSpawner{scripts: []script{echoLoop}}
	s := newSandbox(cfg, sink, slog.New(slog.NewTextHandler(io.Discard, nil)), sp, newMemoryMeter(t.TempDir(), false), "provided")
	api := httptest.NewServer(&runtimeAPI{s: s})
	sp.base = api.URL
	inv := httptest.NewServer(newInvokeAPI(s, cfg))
	t.Cleanup(func() {
		s.drain(expiredContext())
		s.stop(100 * time.Millisecond)
		inv.Close()
		api.Close()
	})

	type reply struct {
		status int
		body   string
		err    error
	}
	got := make(chan reply, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, inv.URL+invokePath, strings.NewReader(`{"a":1}`))
		req.Header.Set("X-Amzn-RequestId", "gated")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- reply{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- reply{status: resp.StatusCode, body: string(b)}
	}()
	select {
	case r := <-got:
		if r.err != nil || r.status != 200 || r.body != `{"a":1}` {
			t.Fatalf("response %d %q %v", r.status, r.body, r.err)
		}
	case <-time.After(3 * time.Second):
		close(out.open)
		t.Fatal("the response waited for END and REPORT to be written")
	}
	if strings.Contains(out.String(), "END RequestId: gated") {
		t.Fatal("END written before the gate opened")
	}

	// The next invoke, sent while END is still being written, waits for
	// it rather than being refused as concurrent.
	next := make(chan reply, 1)
	go func() {
		resp, err := http.Post(inv.URL+invokePath, "application/json", strings.NewReader(`{"b":2}`))
		if err != nil {
			next <- reply{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		next <- reply{status: resp.StatusCode, body: string(b)}
	}()
	time.Sleep(50 * time.Millisecond)
	close(out.open)
	select {
	case r := <-next:
		if r.err != nil || r.status != 200 || r.body != `{"b":2}` {
			t.Fatalf("next invoke %d %q %v", r.status, r.body, r.err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the next invoke never ran")
	}
	// Both invokes' lines, in order: the second START after the first
	// REPORT.
	deadline := time.Now().Add(3 * time.Second)
	for strings.Count(out.String(), "REPORT RequestId:") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	o := out.String()
	first := strings.Index(o, "REPORT RequestId: gated")
	if first < 0 || strings.Count(o, "START RequestId:") != 2 || strings.LastIndex(o, "START RequestId:") < first {
		t.Fatalf("log lines out of order:\n%s", o)
	}
}

// run/complete: while an invoke that has its result is completing, a new
// invoke waits for the slot; while one is still running, it gets ErrBusy.
func TestSandboxSlotWhileCompleting(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(rt *fakeRuntime) error {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		<-release
		if err := rt.respond(ev.id, ev.body); err != nil {
			return err
		}
		return echoLoop(rt)
	})
	type outcome struct {
		inv *invocation
		res *result
		err error
	}
	first := make(chan outcome, 1)
	go func() {
		inv, res, err := h.s.run(&invokeRequest{requestID: "one", payload: []byte(`1`)})
		first <- outcome{inv, res, err}
	}()
	h.waitState(StateInvoking)
	if _, err := h.s.invoke(&invokeRequest{requestID: "busy", payload: []byte(`2`)}); !errors.Is(err, ErrBusy) {
		t.Fatalf("invoke while one runs: %v, want ErrBusy", err)
	}
	if !h.s.busy() {
		t.Fatal("busy() is false while an invoke runs")
	}
	close(release)
	o := <-first
	if o.err != nil || string(o.res.payload) != "1" {
		t.Fatalf("first: %v %q", o.err, o.res.payload)
	}
	if h.s.busy() {
		t.Fatal("busy() is true while the invoke only completes")
	}
	second := make(chan error, 1)
	go func() {
		res, err := h.s.invoke(&invokeRequest{requestID: "two", payload: []byte(`3`)})
		if err == nil && string(res.payload) != "3" {
			err = errors.New("second payload " + string(res.payload))
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("second invoke ran before the first completed: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.s.complete(o.inv, o.res)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	out := h.out.String()
	if i, j := strings.Index(out, "REPORT RequestId: one"), strings.Index(out, "START RequestId: two"); i < 0 || j < i {
		t.Fatalf("log lines:\n%s", out)
	}
}

// START waits in the buffer only briefly: an invoke that runs longer than
// startFlushDelay has it printed while it runs.
func TestStartFlushedDuringLongInvoke(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(rt *fakeRuntime) error {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		<-release
		if err := rt.respond(ev.id, ev.body); err != nil {
			return err
		}
		return echoLoop(rt)
	})
	done := make(chan struct{})
	go func() { h.call(`{}`, func(r *invokeRequest) { r.requestID = "long" }); close(done) }()
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(h.out.String(), "START RequestId: long") {
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("START not printed while the invoke runs")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if strings.Contains(h.out.String(), "END RequestId: long") {
		t.Fatal("END before the runtime responded")
	}
	close(release)
	<-done
}

// readablePipes finds the pipes with data or at their end, with one call.
func TestReadablePipes(t *testing.T) {
	sink := NewLogSink(io.Discard, LogText, "fn")
	var ws []*os.File
	var ps []*pipeReader
	for _, name := range []string{"stdout", "stderr", "extra"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		p, err := newPipeReader(sink, name, r)
		if err != nil {
			t.Fatal(err)
		}
		ws, ps = append(ws, w), append(ps, p)
	}
	if got := readablePipes(ps); got != 0 {
		t.Fatalf("empty pipes: %b", got)
	}
	ws[1].Write([]byte("x\n"))
	ws[2].Close()
	if got := readablePipes(ps); got != 0b110 {
		t.Fatalf("data on 1, 2 closed: %b, want 110", got)
	}
}

// A caller that got its answer and invokes again at once is never refused,
// however its next invoke interleaves with the previous one's completion
// (the slot is freed and finishing cleared together; busy and acquire must
// not see one without the other).
func TestSandboxBackToBackNeverBusy(t *testing.T) {
	h := newHarness(t, echoLoop)
	for i := range 3000 {
		inv, res, err := h.s.run(&invokeRequest{requestID: "r" + strconv.Itoa(i), payload: []byte(`1`)})
		if err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
		// As the invoke endpoint does: the answer is out, END/REPORT follow
		// while the caller already sends its next invoke.
		go h.s.complete(inv, res)
		if h.s.busy() {
			t.Fatalf("invoke %d: busy() right after the previous answer", i+1)
		}
	}
}
