package rie

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// idle → init → ready → invoking → responded → ready, twice; init
// duration only on the first invoke.
func TestSandboxWarmPath(t *testing.T) {
	h := newHarness(t, echoLoop)
	if st := h.s.state(); st != StateIdle {
		t.Fatalf("new sandbox in %s", st)
	}
	r1 := h.call(`{"n":1}`)
	if string(r1.payload) != `{"n":1}` || r1.errorKind != "" {
		t.Fatalf("first invoke: %q kind %q", r1.payload, r1.errorKind)
	}
	if r1.initDuration <= 0 {
		t.Fatal("cold invoke carries no init duration")
	}
	r2 := h.call(`{"n":2}`)
	if string(r2.payload) != `{"n":2}` || r2.initDuration != 0 {
		t.Fatalf("warm invoke: %q init %v", r2.payload, r2.initDuration)
	}
	h.waitState(StateReady)
	if n := h.sp.count(); n != 1 {
		t.Fatalf("%d runtimes started, want 1", n)
	}
	out := h.out.String()
	mustContain(t, out, "INIT_START Runtime Version: provided")
	if strings.Count(out, "START RequestId:") != 2 || strings.Count(out, "\nEND RequestId:") != 2 ||
		strings.Count(out, "REPORT RequestId:") != 2 || strings.Count(out, "Init Duration:") != 1 {
		t.Fatalf("log lines:\n%s", out)
	}
}

// start() begins init before any invoke (eager), and the first invoke
// still reports the init.
func TestSandboxEagerInit(t *testing.T) {
	h := newHarness(t, echoLoop)
	h.s.start()
	h.waitState(StateReady)
	r := h.call(`{}`)
	if r.initDuration <= 0 {
		t.Fatal("first invoke after an eager init reports no init duration")
	}
}

// The Lambda-Runtime-* headers carry the invoke's metadata.
func TestSandboxNextHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	h := newHarness(t, func(rt *fakeRuntime) error {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		got <- ev.header
		if err := rt.respond(ev.id, []byte(`null`)); err != nil {
			return err
		}
		return echoLoop(rt)
	})
	deadline := time.Now().Add(200 * time.Millisecond).Truncate(time.Millisecond)
	before := time.Now()
	h.call(`{}`, func(r *invokeRequest) {
		r.requestID = "rid-1"
		r.clientContext = `{"custom":{"k":"v"}}`
		r.cognitoIdentity = `{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}`
		r.deadline = deadline
	})
	hd := <-got
	for k, want := range map[string]string{
		"Lambda-Runtime-Aws-Request-Id":       "rid-1",
		"Lambda-Runtime-Trace-Id":             "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
		"Lambda-Runtime-Client-Context":       `{"custom":{"k":"v"}}`,
		"Lambda-Runtime-Cognito-Identity":     `{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}`,
		"Lambda-Runtime-Deadline-Ms":          strconv.FormatInt(deadline.UnixMilli(), 10),
	} {
		if hd.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, hd.Get(k), want)
		}
	}
	// Without a caller deadline the deadline is delivery + timeout.
	h2 := newHarness(t, func(rt *fakeRuntime) error {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		got <- ev.header
		return rt.respond(ev.id, []byte(`1`))
	})
	before = time.Now()
	h2.call(`{}`)
	ms, _ := strconv.ParseInt((<-got).Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	d := time.UnixMilli(ms).Sub(before)
	if d < h2.cfg.Timeout-50*time.Millisecond || d > h2.cfg.Timeout+time.Second {
		t.Errorf("deadline %v after the invoke, want about the timeout %v", d, h2.cfg.Timeout)
	}
}

// /error: the body goes to the caller with kind function; the runtime
// stays warm.
func TestSandboxFunctionError(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		for {
			ev, err := rt.next()
			if err != nil {
				return err
			}
			if err := rt.fail(ev.id, []byte(`{"errorMessage":"boom","errorType":"ValueError"}`), "ValueError"); err != nil {
				return err
			}
		}
	})
	for i := 0; i < 2; i++ {
		r := h.call(`{}`)
		if r.errorKind != KindFunction || string(r.payload) != `{"errorMessage":"boom","errorType":"ValueError"}` {
			t.Fatalf("invoke %d: kind %q payload %s", i, r.errorKind, r.payload)
		}
	}
	if h.sp.count() != 1 {
		t.Fatal("a function error restarted the runtime")
	}
}

// An empty /error body becomes an error object from the header.
func TestSandboxFunctionErrorEmptyBody(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		if err := rt.fail(ev.id, nil, "Function.Custom"); err != nil {
			return err
		}
		return echoLoop(rt)
	})
	r := h.call(`{}`)
	if r.errorKind != KindFunction || string(r.payload) != `{"errorMessage":"","errorType":"Function.Custom"}` {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
}

// invoking → timeout → idle → init: Task timed out, the runtime is killed
// and the next invoke gets a fresh one.
func TestSandboxTimeoutAndRecovery(t *testing.T) {
	h := newHarness(t,
		func(rt *fakeRuntime) error {
			if _, err := rt.next(); err != nil {
				return err
			}
			return rt.wait() // never answers
		},
		echoLoop)
	h.cfg.Timeout = 400 * time.Millisecond
	start := time.Now()
	r := h.call(`{}`, func(r *invokeRequest) { r.requestID = "slow-1" })
	if took := time.Since(start); took < h.cfg.Timeout || took > h.cfg.Timeout+time.Second {
		t.Fatalf("timeout after %v, want about %v", took, h.cfg.Timeout)
	}
	want := `{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: slow-1 Error: Task timed out after 0.40 seconds"}`
	if r.errorKind != KindTimeout || string(r.payload) != want {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
	if !h.sp.proc(0).killed.Load() {
		t.Fatal("the timed-out runtime was not killed")
	}
	h.waitState(StateReady) // restarted eagerly
	r = h.call(`{"after":"timeout"}`)
	if r.errorKind != "" || string(r.payload) != `{"after":"timeout"}` || r.initDuration <= 0 {
		t.Fatalf("after timeout: kind %q payload %s init %v", r.errorKind, r.payload, r.initDuration)
	}
	out := h.out.String()
	mustContain(t, out, "slow-1 Task timed out after 0.40 seconds")
	mustContain(t, out, "Status: timeout")
}

// responded → timeout: the runtime answered but never came back to /next
// before the deadline; it is reset and the queued invoke runs on a fresh
// one.
func TestSandboxTimeoutAfterResponse(t *testing.T) {
	h := newHarness(t,
		func(rt *fakeRuntime) error {
			ev, err := rt.next()
			if err != nil {
				return err
			}
			if err := rt.respond(ev.id, []byte(`"first"`)); err != nil {
				return err
			}
			return rt.wait() // lingers instead of calling /next
		},
		echoLoop)
	h.cfg.Timeout = 400 * time.Millisecond
	if r := h.call(`{}`); string(r.payload) != `"first"` {
		t.Fatalf("first: %s", r.payload)
	}
	if st := h.s.state(); st != StateResponded {
		t.Fatalf("state %s, want responded", st)
	}
	r := h.call(`"second"`)
	if string(r.payload) != `"second"` || r.errorKind != "" {
		t.Fatalf("second: kind %q %s", r.errorKind, r.payload)
	}
	if h.sp.count() != 2 {
		t.Fatalf("%d runtimes, want 2", h.sp.count())
	}
}

// invoking → crash → idle → init: Runtime.ExitError, then recovery.
func TestSandboxCrashAndRecovery(t *testing.T) {
	h := newHarness(t,
		func(rt *fakeRuntime) error {
			if _, err := rt.next(); err != nil {
				return err
			}
			return errors.New("exit 1") // crashes mid-invoke
		},
		echoLoop)
	r := h.call(`{}`, func(r *invokeRequest) { r.requestID = "crash-1" })
	want := `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: crash-1 Error: Runtime exited with error: exit status 1"}`
	if r.errorKind != KindExit || string(r.payload) != want {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
	h.waitState(StateReady)
	if r := h.call(`1`); string(r.payload) != `1` {
		t.Fatalf("after crash: %s", r.payload)
	}
	mustContain(t, h.out.String(), "Status: error\tError Type: Runtime.ExitError")
}

// A runtime that exits with status 0 mid-invoke gives AWS's wording.
func TestSandboxExitWithoutReason(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		_, err := rt.next()
		return err
	})
	r := h.call(`{}`, func(r *invokeRequest) { r.requestID = "x" })
	mustContain(t, string(r.payload), "Runtime exited without providing a reason")
}

// init → init-error via /init/error: reported on this invoke and every
// later one until an init succeeds.
func TestSandboxInitErrorUntilRecovered(t *testing.T) {
	initErr := []byte(`{"errorMessage":"Unable to import module 'app': No module named 'x'","errorType":"Runtime.ImportModuleError","stackTrace":[]}`)
	failing := func(rt *fakeRuntime) error {
		if err := rt.expect202(pathInitError, initErr, http.Header{"Lambda-Runtime-Function-Error-Type": {"Runtime.ImportModuleError"}}); err != nil {
			return err
		}
		return rt.wait() // esb-rie kills it
	}
	h := newHarness(t, failing, failing, echoLoop)
	for i := 0; i < 2; i++ {
		r := h.call(`{}`)
		if r.errorKind != KindInit || !bytes.Equal(r.payload, initErr) {
			t.Fatalf("invoke %d: kind %q payload %s", i, r.errorKind, r.payload)
		}
		if st := h.s.state(); st != StateInitError {
			t.Fatalf("state %s, want init-error", st)
		}
	}
	// esb-rie kills it right after answering its /init/error.
	select {
	case <-h.sp.proc(0).Done():
	case <-time.After(3 * time.Second):
		t.Fatal("a runtime that reported an init error was left running")
	}
	r := h.call(`"ok"`)
	if r.errorKind != "" || string(r.payload) != `"ok"` {
		t.Fatalf("after the fix: kind %q payload %s", r.errorKind, r.payload)
	}
	if n := h.sp.count(); n != 3 {
		t.Fatalf("%d inits, want 3 (one per invoke until one succeeds)", n)
	}
	out := h.out.String()
	mustContain(t, out, "INIT_REPORT Init Duration:")
	mustContain(t, out, "Status: error\tError Type: Runtime.ImportModuleError")
}

// init → init-error when the runtime exits before its first /next.
func TestSandboxInitExit(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error { return errors.New("boom") })
	r := h.call(`{}`, func(r *invokeRequest) { r.requestID = "r1" })
	want := `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: r1 Error: Runtime exited with error: exit status 1"}`
	if r.errorKind != KindInit || string(r.payload) != want {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
	if st := h.s.state(); st != StateInitError {
		t.Fatalf("state %s", st)
	}
}

// init → init-error when init runs past InitTimeout.
func TestSandboxInitTimeout(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error { return rt.wait() })
	h.cfg.InitTimeout = 150 * time.Millisecond
	r := h.call(`{}`, func(r *invokeRequest) { r.requestID = "r1" })
	if r.errorKind != KindInit {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
	mustContain(t, string(r.payload), `"errorType":"Sandbox.Timedout"`)
	mustContain(t, string(r.payload), "Runtime init timed out after 0.15 seconds")
	if !h.sp.proc(0).killed.Load() {
		t.Fatal("the stuck runtime was not killed")
	}
}

// A runtime that cannot be started at all: Runtime.InvalidEntrypoint.
func TestSandboxInvalidEntrypoint(t *testing.T) {
	h := newHarness(t, echoLoop)
	h.sp.failErr = errors.New("invalid entrypoint: /var/task/bootstrap: no such file or directory")
	r := h.call(`{}`, func(r *invokeRequest) { r.requestID = "r1" })
	want := `{"errorType":"Runtime.InvalidEntrypoint","errorMessage":"RequestId: r1 Error: invalid entrypoint: /var/task/bootstrap: no such file or directory"}`
	if r.errorKind != KindInit || string(r.payload) != want {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
	h.sp.failErr = nil
	if r := h.call(`2`); string(r.payload) != `2` {
		t.Fatalf("after the bootstrap appeared: %s", r.payload)
	}
}

// ready → idle when the runtime exits between invokes; the next invoke
// starts a new one.
func TestSandboxExitBetweenInvokes(t *testing.T) {
	h := newHarness(t,
		func(rt *fakeRuntime) error {
			ev, err := rt.next()
			if err != nil {
				return err
			}
			return rt.respond(ev.id, []byte(`"once"`)) // then exits
		},
		echoLoop)
	if r := h.call(`{}`); string(r.payload) != `"once"` {
		t.Fatalf("%s", r.payload)
	}
	h.waitState(StateIdle)
	if r := h.call(`"again"`); string(r.payload) != `"again"` || r.initDuration <= 0 {
		t.Fatalf("%s init %v", r.payload, r.initDuration)
	}
}

// A second invoke while one is in flight gets ErrBusy and never reaches
// the runtime.
func TestSandboxOneInvokeAtATime(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := newHarness(t, func(rt *fakeRuntime) error {
		for {
			ev, err := rt.next()
			if err != nil {
				return err
			}
			mu.Lock()
			seen = append(seen, string(ev.body))
			mu.Unlock()
			if err := rt.sleep(100 * time.Millisecond); err != nil {
				return err
			}
			if err := rt.respond(ev.id, ev.body); err != nil {
				return err
			}
		}
	})
	done := make(chan *result)
	go func() { done <- h.call(`"first"`) }()
	h.waitState(StateInvoking)
	_, err := h.s.invoke(&invokeRequest{requestID: "second", payload: []byte(`"second"`)})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("concurrent invoke: %v, want ErrBusy", err)
	}
	if r := <-done; string(r.payload) != `"first"` {
		t.Fatalf("first: %s", r.payload)
	}
	if r := h.call(`"third"`); string(r.payload) != `"third"` {
		t.Fatalf("third: %s", r.payload)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != `"first","third"` {
		t.Fatalf("runtime saw %v", seen)
	}
}

// The caller's deadline passes while the invoke waits for init: it ends
// as a timeout, init carries on and serves the next invoke.
func TestSandboxCallerDeadlineWhileQueued(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		if err := rt.sleep(300 * time.Millisecond); err != nil {
			return err
		}
		return echoLoop(rt)
	})
	r := h.call(`{}`, func(r *invokeRequest) { r.deadline = time.Now().Add(50 * time.Millisecond) })
	if r.errorKind != KindTimeout {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
	mustContain(t, string(r.payload), "Sandbox.Timedout")
	if st := h.s.state(); st != StateInit {
		t.Fatalf("init was abandoned: state %s", st)
	}
	if r := h.call(`"next"`); string(r.payload) != `"next"` || h.sp.count() != 1 {
		t.Fatalf("%s, %d inits", r.payload, h.sp.count())
	}
}

// A caller deadline earlier than the function timeout is the deadline the
// runtime runs against.
func TestSandboxCallerDeadlineShortensTimeout(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		if _, err := rt.next(); err != nil {
			return err
		}
		return rt.wait()
	}, echoLoop)
	h.cfg.Timeout = 2 * time.Second
	start := time.Now()
	r := h.call(`{}`, func(r *invokeRequest) { r.deadline = time.Now().Add(120 * time.Millisecond) })
	if took := time.Since(start); took > h.cfg.Timeout {
		t.Fatalf("took %v, the caller's deadline was 120ms", took)
	}
	if r.errorKind != KindTimeout {
		t.Fatalf("kind %q", r.errorKind)
	}
}

// Runtime API refusals, with AWS's status codes and bodies.
func TestRuntimeAPIRefusals(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(rt *fakeRuntime) error {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		<-release
		if err := rt.respond(ev.id, []byte(`"ok"`)); err != nil {
			return err
		}
		return echoLoop(rt)
	})
	h.s.start()
	h.waitState(StateReady)

	// ready: no invoke to answer.
	st, body := h.rawAPI(http.MethodPost, prefixInvocation+"nope/response", []byte(`1`), nil)
	if st != http.StatusForbidden || body != `{"errorType":"InvalidStateTransition","errorMessage":"State transition from Ready to InvocationResponse failed for runtime. Error: State transition is not allowed"}` {
		t.Fatalf("response while ready: %d %s", st, body)
	}
	st, _ = h.rawAPI(http.MethodPost, pathInitError, []byte(`{}`), nil)
	if st != http.StatusForbidden {
		t.Fatalf("init/error after init: %d", st)
	}

	done := make(chan *result)
	go func() { done <- h.call(`{}`, func(r *invokeRequest) { r.requestID = "the-id" }) }()
	h.waitState(StateInvoking)
	st, body = h.rawAPI(http.MethodPost, prefixInvocation+"other-id/response", []byte(`1`), nil)
	if st != http.StatusBadRequest || body != `{"errorType":"InvalidRequestID","errorMessage":"Invalid request ID"}` {
		t.Fatalf("unknown id: %d %s", st, body)
	}
	st, body = h.rawAPI(http.MethodGet, pathNext, nil, nil)
	if st != http.StatusForbidden {
		t.Fatalf("/next while invoking: %d %s", st, body)
	}
	st, _ = h.rawAPI(http.MethodGet, prefixInvocation+"the-id/response", nil, nil)
	if st != http.StatusMethodNotAllowed {
		t.Fatalf("GET response: %d", st)
	}
	st, _ = h.rawAPI(http.MethodGet, "/2020-01-01/extension/register", nil, nil)
	if st != http.StatusNotFound {
		t.Fatalf("extensions API: %d", st)
	}
	close(release)
	if r := <-done; string(r.payload) != `"ok"` {
		t.Fatalf("%s", r.payload)
	}
	// responded: the same id again.
	st, body = h.rawAPI(http.MethodPost, prefixInvocation+"the-id/response", []byte(`2`), nil)
	if st != http.StatusForbidden && st != http.StatusBadRequest {
		t.Fatalf("second response: %d %s", st, body)
	}
}

// A response over 6 MB: the runtime gets 413, the caller
// Function.ResponseSizeTooLarge; a response right at the limit passes.
func TestSandboxResponseLimit(t *testing.T) {
	var status413 error
	h := newHarness(t, func(rt *fakeRuntime) error {
		for {
			ev, err := rt.next()
			if err != nil {
				return err
			}
			n, _ := strconv.Atoi(string(ev.body))
			st, _, body, err := rt.do(http.MethodPost, prefixInvocation+ev.id+"/response", bytes.Repeat([]byte("a"), n), nil)
			if err != nil {
				return err
			}
			if n > MaxResponseBytes && (st != http.StatusRequestEntityTooLarge ||
				string(body) != `{"errorType":"RequestEntityTooLarge","errorMessage":"Exceeded maximum allowed payload size (6291556 bytes)."}`) {
				status413 = errors.New("oversize answered " + strconv.Itoa(st) + " " + string(body))
			}
		}
	})
	r := h.call(strconv.Itoa(MaxResponseBytes + 1))
	if status413 != nil {
		t.Fatal(status413)
	}
	want := `{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"Response payload size (6291557 bytes) exceeded maximum allowed payload size (6291556 bytes)."}`
	if r.errorKind != KindOversize || string(r.payload) != want {
		t.Fatalf("kind %q payload %.200s", r.errorKind, r.payload)
	}
	r = h.call(strconv.Itoa(MaxResponseBytes))
	if r.errorKind != "" || len(r.payload) != MaxResponseBytes {
		t.Fatalf("at the limit: kind %q, %d bytes", r.errorKind, len(r.payload))
	}
}

// An error announced in trailers (aws-lambda-go, for a failing reader)
// turns the response into a function error.
func TestSandboxTrailerError(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		pr, pw := io.Pipe()
		req, _ := http.NewRequestWithContext(rt.ctx, http.MethodPost, rt.base+prefixInvocation+ev.id+"/response", pr)
		req.Trailer = http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}
		go func() {
			pw.Write([]byte("partial"))
			req.Trailer.Set("Lambda-Runtime-Function-Error-Type", "ReaderError")
			req.Trailer.Set("Lambda-Runtime-Function-Error-Body", base64.StdEncoding.EncodeToString([]byte(`{"errorMessage":"read failed","errorType":"ReaderError"}`)))
			pw.Close()
		}()
		resp, err := rt.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return echoLoop(rt)
	})
	r := h.call(`{}`)
	if r.errorKind != KindFunction || string(r.payload) != `{"errorMessage":"read failed","errorType":"ReaderError"}` {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
}

// SIGTERM: the invoke in flight finishes within the grace period, new
// invokes are refused, then the runtime is stopped.
func TestSandboxDrainFinishesInFlight(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		for {
			ev, err := rt.next()
			if err != nil {
				return err
			}
			if err := rt.sleep(150 * time.Millisecond); err != nil {
				return err
			}
			if err := rt.respond(ev.id, ev.body); err != nil {
				return err
			}
		}
	})
	done := make(chan *result)
	go func() { done <- h.call(`"in-flight"`) }()
	h.waitState(StateInvoking)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	drained := make(chan struct{})
	go func() { h.s.drain(ctx); close(drained) }()
	time.Sleep(20 * time.Millisecond)
	if _, err := h.s.invoke(&invokeRequest{requestID: "late", payload: []byte(`1`)}); !errors.Is(err, ErrShuttingDown) && !errors.Is(err, ErrBusy) {
		t.Fatalf("invoke while draining: %v", err)
	}
	if r := <-done; string(r.payload) != `"in-flight"` {
		t.Fatalf("in-flight invoke: kind %q %s", r.errorKind, r.payload)
	}
	<-drained
	h.s.stop(100 * time.Millisecond)
	if st := h.s.state(); st != StateShutdown {
		t.Fatalf("state %s after stop", st)
	}
	if _, err := h.s.invoke(&invokeRequest{requestID: "later", payload: []byte(`1`)}); err == nil {
		t.Fatal("invoke after shutdown succeeded")
	}
}

// When the grace period runs out the runtime is killed and the invoke in
// flight ends with Runtime.ExitError.
func TestSandboxDrainGraceExpires(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		if _, err := rt.next(); err != nil {
			return err
		}
		return rt.wait()
	})
	h.cfg.Timeout = 10 * time.Second
	done := make(chan *result)
	go func() { done <- h.call(`{}`) }()
	h.waitState(StateInvoking)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h.s.drain(ctx)
	r := <-done
	if r.errorKind != KindExit {
		t.Fatalf("kind %q payload %s", r.errorKind, r.payload)
	}
	if h.sp.count() != 1 {
		t.Fatal("a runtime was started while shutting down")
	}
}
