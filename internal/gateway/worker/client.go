// Package worker invokes a function container's esb-rie over HTTP/1.1
// keep-alive, speaking the invoke protocol of docs/contracts.md ("Invoking a
// worker").
//
// The client is not net/http: a worker serves one invoke at a time, so each
// invoke takes a connection of its own (an idle one to that worker, else a
// new one), writes the request with one system call and reads the answer in
// the calling goroutine. net/http's Transport hands every request to two
// goroutines per connection (its read and write loops); on a small machine
// those hand-offs cost more than the gateway's own work.
package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Request headers of the worker protocol.
const (
	HeaderRequestID       = "X-Amzn-Requestid"
	HeaderTraceID         = "X-Amzn-Trace-Id"
	HeaderClientContext   = "X-Amz-Client-Context"
	HeaderCognitoIdentity = "X-Amz-Cognito-Identity"
	HeaderLogType         = "X-Amz-Log-Type"
	HeaderFunctionARN     = "X-Esb-Invoked-Function-Arn"
	HeaderDeadlineMs      = "X-Esb-Deadline-Ms"

	HeaderFunctionError = "X-Amz-Function-Error"
	HeaderErrorKind     = "X-Esb-Error-Kind"
	HeaderInitDuration  = "X-Esb-Init-Duration-Ms"
	HeaderDuration      = "X-Esb-Duration-Ms"
	HeaderLogResult     = "X-Amz-Log-Result"
)

// Error kinds esb-rie reports in X-Esb-Error-Kind.
const (
	KindFunction = "function"
	KindTimeout  = "timeout"
	KindExit     = "exit"
	KindInit     = "init"
	KindOversize = "oversize"
)

// MaxResponse is the largest response body read from a worker (esb-rie caps
// function responses at 6 291 556 bytes; error bodies are small).
const MaxResponse = 6291556 + 64<<10

// Invocation is one invoke of a worker.
type Invocation struct {
	// URL is the worker's invoke URL (http://ip:port/path).
	URL             string
	Payload         []byte
	RequestID       string
	TraceID         string
	ClientContext   string
	CognitoIdentity string
	FunctionARN     string
	Tail            bool
	// Deadline, when set, is sent as X-Esb-Deadline-Ms.
	Deadline time.Time
}

// Result is a worker's answer. Call Release exactly once when the result is
// no longer needed; the Result and its Body must not be used after that (both
// are reused by a later invoke).
type Result struct {
	Body          []byte
	FunctionError string
	ErrorKind     string
	LogResult     string
	InitDuration  string
	Duration      string

	// buf is the pooled body buffer while the result is in the pool.
	buf      []byte
	released bool
}

// Failed tells whether the invoke failed (X-Amz-Function-Error was set).
func (r *Result) Failed() bool { return r.FunctionError != "" }

// Release returns the result and its body buffer for reuse.
func (r *Result) Release() {
	if r.released {
		return
	}
	putResult(r)
}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 1 << 20

var resultPool = sync.Pool{New: func() any { return &Result{buf: make([]byte, 0, 16<<10)} }}

func getResult() *Result {
	r := resultPool.Get().(*Result)
	r.released = false
	r.Body = r.buf[:0]
	r.buf = nil
	return r
}

func putResult(r *Result) {
	b := r.Body
	if cap(b) > maxPooledBody {
		b = nil
	}
	*r = Result{buf: b[:0], released: true}
	resultPool.Put(r)
}

// ErrProtocol marks a worker answer that breaks the protocol (non-200, too
// large, malformed HTTP).
var ErrProtocol = errors.New("worker protocol error")

// Defaults of the connection handling.
const (
	dialTimeout = 5 * time.Second
	// idleTimeout closes a connection that was not used for this long (the
	// worker may be gone; esb-rie itself closes idle connections after 15 min).
	idleTimeout = 90 * time.Second
	// sweepEvery is how often idle connections and unused endpoints are
	// looked for while there are any.
	sweepEvery = 30 * time.Second
)

// Client invokes workers. It keeps at most one idle connection per worker
// URL. Safe for concurrent use.
type Client struct {
	dialer    net.Dialer
	endpoints sync.Map // URL string → *endpoint
	epoch     time.Time
	// sweeper runs sweep every sweepEvery while endpoints exist (armed).
	sweeper *time.Timer
	armed   atomic.Bool
}

// NewClient returns a client ready to invoke workers.
func NewClient() *Client {
	c := &Client{dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}, epoch: time.Now()}
	c.sweeper = time.AfterFunc(time.Hour, c.timedSweep)
	c.sweeper.Stop()
	return c
}

// endpoint is one worker URL: where to dial, the constant start of every
// request, and its idle connection.
type endpoint struct {
	addr string
	// head is "POST <path> HTTP/1.1\r\nHost: <host>\r\nContent-Type: application/json\r\n".
	head []byte

	mu    sync.Mutex
	idle  *conn
	gone  bool  // forgotten: close connections instead of keeping them
	inUse int   // connections out for an invoke
	last  int64 // when a connection was last handed back (client clock)
}

// CloseIdle closes every idle connection.
func (c *Client) CloseIdle() {
	c.endpoints.Range(func(_, v any) bool {
		ep := v.(*endpoint)
		ep.mu.Lock()
		cn := ep.idle
		ep.idle = nil
		ep.mu.Unlock()
		if cn != nil {
			cn.close()
		}
		return true
	})
}

// Forget drops the state kept for a worker URL (after the worker is gone):
// its idle connection is closed, and connections still out for an invoke are
// closed when the invoke ends.
func (c *Client) Forget(rawURL string) {
	v, ok := c.endpoints.LoadAndDelete(rawURL)
	if !ok {
		return
	}
	ep := v.(*endpoint)
	ep.mu.Lock()
	ep.gone = true
	cn := ep.idle
	ep.idle = nil
	ep.mu.Unlock()
	if cn != nil {
		cn.close()
	}
}

// now is the client's monotonic clock in nanoseconds.
func (c *Client) now() int64 { return int64(time.Since(c.epoch)) }

func (c *Client) endpoint(raw string) (*endpoint, error) {
	if v, ok := c.endpoints.Load(raw); ok {
		return v.(*endpoint), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("scheme %q: workers speak plain http", u.Scheme)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, errors.New("want http://host:port/path")
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.RequestURI()
	if !validHeaderValue(path) || !validHeaderValue(u.Host) {
		return nil, errors.New("control characters in the URL")
	}
	head := make([]byte, 0, 64+len(path)+len(u.Host))
	head = append(head, "POST "...)
	head = append(head, path...)
	head = append(head, " HTTP/1.1\r\nHost: "...)
	head = append(head, u.Host...)
	head = append(head, "\r\nContent-Type: application/json\r\n"...)
	v, loaded := c.endpoints.LoadOrStore(raw, &endpoint{addr: addr, head: head, last: c.now()})
	if !loaded && c.armed.CompareAndSwap(false, true) {
		c.sweeper.Reset(sweepEvery)
	}
	return v.(*endpoint), nil
}

// take hands out the endpoint's idle connection, if it is still usable.
func (ep *endpoint) take() *conn {
	ep.mu.Lock()
	cn := ep.idle
	ep.idle = nil
	ep.inUse++
	ep.mu.Unlock()
	if cn != nil && !cn.alive() {
		cn.close()
		return nil
	}
	return cn
}

// done ends an invoke: a reusable connection becomes the idle one (unless
// there already is one), any other is closed.
func (ep *endpoint) done(cn *conn, reuse bool, now int64) {
	ep.mu.Lock()
	ep.inUse--
	ep.last = now
	if cn != nil && reuse && !ep.gone && ep.idle == nil {
		ep.idle, cn = cn, nil
		ep.idle.idleSince = now
	}
	ep.mu.Unlock()
	if cn != nil {
		cn.close()
	}
}

// sweep closes connections idle for longer than idleTimeout and forgets
// endpoints unused for that long (workers removed by scale-down).
func (c *Client) sweep(now int64) {
	c.endpoints.Range(func(k, v any) bool {
		ep := v.(*endpoint)
		ep.mu.Lock()
		var cn *conn
		if ep.idle != nil && now-ep.idle.idleSince > int64(idleTimeout) {
			cn, ep.idle = ep.idle, nil
		}
		drop := ep.idle == nil && ep.inUse == 0 && now-ep.last > int64(idleTimeout)
		if drop {
			ep.gone = true
		}
		ep.mu.Unlock()
		if cn != nil {
			cn.close()
		}
		if drop {
			c.endpoints.CompareAndDelete(k, v)
		}
		return true
	})
}

// timedSweep runs from the sweeper timer; it re-arms the timer while
// endpoints remain (a new endpoint arms it otherwise).
func (c *Client) timedSweep() {
	c.armed.Store(false)
	c.sweep(c.now())
	left := false
	c.endpoints.Range(func(_, _ any) bool { left = true; return false })
	if left && c.armed.CompareAndSwap(false, true) {
		c.sweeper.Reset(sweepEvery)
	}
}

// Invoke posts the payload to the worker and reads its answer. An error means
// the worker could not be used (connection error, timeout or cancellation via
// ctx, protocol violation): the caller evicts it. Errors caused by ctx wrap
// ctx's error (context.DeadlineExceeded, context.Canceled).
func (c *Client) Invoke(ctx context.Context, inv *Invocation) (*Result, error) {
	ep, err := c.endpoint(inv.URL)
	if err != nil {
		return nil, fmt.Errorf("worker url %q: %w", inv.URL, err)
	}
	if err := checkHeaders(inv); err != nil {
		return nil, fmt.Errorf("invoke worker %s: %w", ep.addr, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("invoke worker %s: %w", ep.addr, err)
	}
	cn := ep.take()
	if cn == nil {
		nc, err := c.dialer.DialContext(ctx, "tcp", ep.addr)
		if err != nil {
			ep.done(nil, false, c.now())
			return nil, fmt.Errorf("invoke worker %s: %w", ep.addr, ctxErr(ctx, err))
		}
		cn = newConn(nc)
	}
	res, reuse, err := cn.roundTrip(ctx, ep.head, inv)
	now := c.now()
	ep.done(cn, reuse && err == nil, now)
	if err != nil {
		return nil, fmt.Errorf("invoke worker %s: %w", ep.addr, ctxErr(ctx, err))
	}
	return res, nil
}

// ctxErr returns an error that wraps ctx's error when ctx ended (a connection
// deadline set from ctx may expire a moment before ctx reports it).
func ctxErr(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	var ne net.Error
	if d, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// checkHeaders refuses header values that would break the request framing.
func checkHeaders(inv *Invocation) error {
	for _, h := range [...]struct{ name, v string }{
		{HeaderRequestID, inv.RequestID}, {HeaderTraceID, inv.TraceID}, {HeaderClientContext, inv.ClientContext},
		{HeaderCognitoIdentity, inv.CognitoIdentity}, {HeaderFunctionARN, inv.FunctionARN},
	} {
		if !validHeaderValue(h.v) {
			return fmt.Errorf("%s %q: control characters are not allowed in a header", h.name, h.v)
		}
	}
	return nil
}

// validHeaderValue reports whether s has no control characters but tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// appendRequest appends the request head for inv to b.
func appendRequest(b, head []byte, inv *Invocation) []byte {
	b = append(b, head...)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(inv.Payload)), 10)
	b = append(b, "\r\n"...)
	b = appendHeader(b, HeaderRequestID, inv.RequestID)
	b = appendHeader(b, HeaderTraceID, inv.TraceID)
	b = appendHeader(b, HeaderClientContext, inv.ClientContext)
	b = appendHeader(b, HeaderCognitoIdentity, inv.CognitoIdentity)
	b = appendHeader(b, HeaderFunctionARN, inv.FunctionARN)
	if inv.Tail {
		b = append(b, HeaderLogType+": Tail\r\n"...)
	}
	if !inv.Deadline.IsZero() {
		b = append(b, HeaderDeadlineMs+": "...)
		b = strconv.AppendInt(b, inv.Deadline.UnixMilli(), 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

func appendHeader(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}
