// Package workertest provides an in-process stand-in for esb-rie that speaks
// the worker invoke protocol of docs/contracts.md, for tests and benchmarks of
// the gateway before (and besides) real containers.
package workertest

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Call is what a handler sees of one invoke.
type Call struct {
	RequestID     string
	TraceID       string
	ClientContext string
	FunctionARN   string
	Deadline      time.Time
	Payload       []byte
	// Log appends a line to the invoke's log (returned with Tail).
	Log func(line string)
}

// Reply is a handler's answer: a payload, or an error of one of the kinds of
// X-Esb-Error-Kind ("function", "timeout", "exit", …).
type Reply struct {
	Payload   []byte
	ErrorKind string
}

// Handler runs a function.
type Handler func(c *Call) Reply

// Echo returns the payload unchanged.
func Echo(c *Call) Reply { return Reply{Payload: c.Payload} }

// Worker is one fake worker: an httptest server serving the invoke endpoint.
type Worker struct {
	Server  *httptest.Server
	Handler Handler
	// Timeout is the function timeout; a handler running longer is answered
	// like esb-rie does (Sandbox.Timedout). 0 = no limit.
	Timeout time.Duration

	busy    atomic.Bool
	invokes atomic.Int64
	mu      sync.Mutex
	inits   int
}

// New starts a fake worker.
func New(h Handler) *Worker {
	w := &Worker{Handler: h}
	w.Server = httptest.NewServer(w)
	return w
}

// Close stops the server.
func (w *Worker) Close() { w.Server.Close() }

// Invokes counts the invokes served.
func (w *Worker) Invokes() int64 { return w.invokes.Load() }

// ServeHTTP implements the invoke endpoint and /healthz.
func (w *Worker) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		rw.WriteHeader(200)
		return
	}
	if r.URL.Path != "/2015-03-31/functions/function/invocations" {
		http.NotFound(rw, r)
		return
	}
	if !w.busy.CompareAndSwap(false, true) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(rw, `{"errorType":"TooManyRequestsException","errorMessage":"worker is busy"}`)
		return
	}
	defer w.busy.Store(false)
	w.invokes.Add(1)
	payload, _ := io.ReadAll(r.Body)
	reqID := r.Header.Get("X-Amzn-RequestId")
	if reqID == "" {
		reqID = "00000000-0000-4000-8000-000000000000"
	}
	var logBuf []byte
	c := &Call{
		RequestID: reqID, TraceID: r.Header.Get("X-Amzn-Trace-Id"), ClientContext: r.Header.Get("X-Amz-Client-Context"),
		FunctionARN: r.Header.Get("X-Esb-Invoked-Function-Arn"), Payload: payload,
		Log: func(line string) { logBuf = append(append(logBuf, line...), '\n') },
	}
	if ms, err := strconv.ParseInt(r.Header.Get("X-Esb-Deadline-Ms"), 10, 64); err == nil {
		c.Deadline = time.UnixMilli(ms)
	}
	start := time.Now()
	w.mu.Lock()
	cold := w.inits == 0
	w.inits++
	w.mu.Unlock()

	var rep Reply
	if w.Timeout > 0 {
		done := make(chan Reply, 1)
		go func() { done <- w.Handler(c) }()
		select {
		case rep = <-done:
		case <-time.After(w.Timeout):
			rep = Reply{ErrorKind: "timeout", Payload: fmt.Appendf(nil,
				`{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: %s Error: Task timed out after %.2f seconds"}`, reqID, w.Timeout.Seconds())}
		}
	} else {
		rep = w.Handler(c)
	}
	h := rw.Header()
	h.Set("X-Amzn-RequestId", reqID)
	h.Set("Content-Type", "application/json")
	h.Set("X-Esb-Duration-Ms", strconv.FormatFloat(float64(time.Since(start).Microseconds())/1000, 'f', 2, 64))
	if cold {
		h.Set("X-Esb-Init-Duration-Ms", "1.00")
	}
	if rep.ErrorKind != "" {
		h.Set("X-Amz-Function-Error", "Unhandled")
		h.Set("X-Esb-Error-Kind", rep.ErrorKind)
	}
	if r.Header.Get("X-Amz-Log-Type") == "Tail" {
		lines := fmt.Appendf(nil, "START RequestId: %s Version: $LATEST\n", reqID)
		lines = append(lines, logBuf...)
		lines = fmt.Appendf(lines, "END RequestId: %s\nREPORT RequestId: %s\tDuration: 1.00 ms\n", reqID, reqID)
		if len(lines) > 4096 {
			lines = lines[len(lines)-4096:]
		}
		h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(lines))
	}
	rw.WriteHeader(200)
	rw.Write(rep.Payload)
}
