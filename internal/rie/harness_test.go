package rie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The sandbox tests run the real sandbox and the real Runtime API over HTTP
// against fake runtimes: goroutines that play a runtime process, scripted
// per test, which the sandbox can "kill".

// script is what one fake runtime process does; returning an error is
// exiting with status 1, returning nil exiting with status 0.
type script func(rt *fakeRuntime) error

type fakeSpawner struct {
	mu      sync.Mutex
	base    string
	scripts []script // one per spawn; the last one repeats
	spawns  int
	failErr error // when set, spawn fails
	procs   []*fakeProc
}

func (f *fakeSpawner) spawn() (process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failErr != nil {
		return nil, f.failErr
	}
	sc := f.scripts[min(f.spawns, len(f.scripts)-1)]
	f.spawns++
	ctx, cancel := context.WithCancel(context.Background())
	p := &fakeProc{done: make(chan struct{}), cancel: cancel}
	f.procs = append(f.procs, p)
	rt := &fakeRuntime{ctx: ctx, base: f.base, client: &http.Client{}}
	go func() {
		err := sc(rt)
		switch {
		case p.killed.Load():
			p.reason = "signal: killed"
		case err != nil:
			p.reason = "exit status 1"
		default:
			p.reason = "exit status 0"
		}
		cancel()
		close(p.done)
	}()
	return p, nil
}

// proc returns the i-th runtime started.
func (f *fakeSpawner) proc(i int) *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.procs[i]
}

func (f *fakeSpawner) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spawns
}

type fakeProc struct {
	done   chan struct{}
	reason string
	cancel context.CancelFunc
	killed atomic.Bool
}

func (p *fakeProc) Pid() int              { return 0 }
func (p *fakeProc) Done() <-chan struct{} { return p.done }
func (p *fakeProc) ExitReason() string    { return p.reason }
func (p *fakeProc) PeakRSS() int64        { return 0 }
func (p *fakeProc) Signal(sig syscall.Signal) {
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		p.killed.Store(true)
		p.cancel()
	}
}

// fakeRuntime is a runtime client talking to the Runtime API.
type fakeRuntime struct {
	ctx    context.Context
	base   string
	client *http.Client
}

type event struct {
	id     string
	header http.Header
	body   []byte
}

var errKilled = errors.New("killed")

func (r *fakeRuntime) next() (*event, error) {
	status, h, body, err := r.do(http.MethodGet, pathNext, nil, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("/next: %d %s", status, body)
	}
	return &event{id: h.Get("Lambda-Runtime-Aws-Request-Id"), header: h, body: body}, nil
}

func (r *fakeRuntime) respond(id string, body []byte) error {
	return r.expect202(prefixInvocation+id+"/response", body, nil)
}

func (r *fakeRuntime) fail(id string, body []byte, errorType string) error {
	return r.expect202(prefixInvocation+id+"/error", body, http.Header{"Lambda-Runtime-Function-Error-Type": {errorType}})
}

func (r *fakeRuntime) expect202(path string, body []byte, h http.Header) error {
	status, _, resp, err := r.do(http.MethodPost, path, body, h)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return fmt.Errorf("POST %s: %d %s", path, status, resp)
	}
	return nil
}

func (r *fakeRuntime) do(method, path string, body []byte, h http.Header) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(r.ctx, method, r.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := r.client.Do(req)
	if err != nil {
		if r.ctx.Err() != nil {
			return 0, nil, nil, errKilled
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// wait blocks until the process is killed (a hanging runtime).
func (r *fakeRuntime) wait() error {
	<-r.ctx.Done()
	return errKilled
}

// sleep waits d unless killed first.
func (r *fakeRuntime) sleep(d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-r.ctx.Done():
		return errKilled
	}
}

// echoLoop is a well-behaved runtime answering every event with itself.
func echoLoop(rt *fakeRuntime) error {
	for {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		if err := rt.respond(ev.id, ev.body); err != nil {
			return err
		}
	}
}

// syncBuffer is an io.Writer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t      *testing.T
	cfg    *Config
	s      *sandbox
	sp     *fakeSpawner
	out    *syncBuffer
	api    *httptest.Server
	invoke *httptest.Server
}

// newHarness starts a sandbox whose runtimes follow scripts (the last one
// repeats for later spawns).
func newHarness(t *testing.T, scripts ...script) *harness {
	t.Helper()
	cfg := &Config{
		FunctionName: "fn", FunctionVersion: "$LATEST", MemoryMB: 128, Region: "us-east-1", AccountID: "123456789012",
		Timeout: 5 * time.Second, InitTimeout: 5 * time.Second,
	}
	out := &syncBuffer{}
	sink := NewLogSink(out, LogText, cfg.FunctionName)
	sp := &fakeSpawner{scripts: scripts}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newSandbox(cfg, sink, log, sp, newMemoryMeter(t.TempDir(), false), "provided")
	h := &harness{t: t, cfg: cfg, s: s, sp: sp, out: out}
	h.api = httptest.NewServer(&runtimeAPI{s: s})
	sp.base = h.api.URL
	h.invoke = httptest.NewServer(newInvokeAPI(s, cfg))
	t.Cleanup(func() {
		s.drain(expiredContext())
		s.stop(100 * time.Millisecond)
		h.invoke.Close()
		h.api.Close()
	})
	return h
}

func expiredContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// call runs one invoke through the sandbox (the logic, no HTTP).
func (h *harness) call(payload string, mods ...func(*invokeRequest)) *result {
	h.t.Helper()
	req := &invokeRequest{requestID: newRequestID(), traceID: "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		functionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn", payload: []byte(payload)}
	for _, m := range mods {
		m(req)
	}
	res, err := h.s.invoke(req)
	if err != nil {
		h.t.Fatalf("invoke: %v", err)
	}
	return res
}

// waitState waits until the sandbox is in want.
func (h *harness) waitState(want State) {
	h.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if h.s.state() == want {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.t.Fatalf("state %s, want %s", h.s.state(), want)
}

// rawAPI calls the Runtime API directly, as a misbehaving runtime would.
func (h *harness) rawAPI(method, path string, body []byte, hdr http.Header) (int, string) {
	h.t.Helper()
	rt := &fakeRuntime{ctx: context.Background(), base: h.api.URL, client: &http.Client{}}
	status, _, resp, err := rt.do(method, path, body, hdr)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, string(resp)
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
