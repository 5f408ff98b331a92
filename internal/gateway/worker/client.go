// Package worker invokes a function container's esb-rie over HTTP/1.1
// keep-alive, speaking the invoke protocol of docs/contracts.md ("Invoking a
// worker").
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
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
	// URL is the worker's invoke URL.
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

// Result is a worker's answer. Call Release when Body is no longer needed.
type Result struct {
	Body          []byte
	FunctionError string
	ErrorKind     string
	LogResult     string
	InitDuration  string
	Duration      string
	buf           *[]byte
}

// Failed tells whether the invoke failed (X-Amz-Function-Error was set).
func (r *Result) Failed() bool { return r.FunctionError != "" }

// Release returns the body buffer for reuse.
func (r *Result) Release() {
	if r.buf != nil {
		putBuf(r.buf, r.Body)
		r.buf = nil
		r.Body = nil
	}
}

// putBuf returns a buffer to the pool unless it grew huge.
func putBuf(bp *[]byte, b []byte) {
	if cap(b) > 1<<20 {
		return
	}
	*bp = b[:0]
	bufPool.Put(bp)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// contentTypeJSON is shared by every request (the transport only reads it).
var contentTypeJSON = []string{"application/json"}

// ErrProtocol marks a worker answer that breaks the protocol (non-200, too large).
var ErrProtocol = errors.New("worker protocol error")

// Client invokes workers through one tuned transport.
type Client struct {
	hc   *http.Client
	urls sync.Map // string → *url.URL
}

// NewClient returns a client with a transport tuned for many short requests
// to a few hundred local workers: keep-alive, no proxy, no compression.
func NewClient() *Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     32 << 10,
		ReadBufferSize:      32 << 10,
	}
	return &Client{hc: &http.Client{Transport: tr}}
}

// CloseIdle closes idle keep-alive connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

func (c *Client) parse(raw string) (*url.URL, error) {
	if u, ok := c.urls.Load(raw); ok {
		return u.(*url.URL), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	c.urls.Store(raw, u)
	return u, nil
}

// Forget drops cached state of a worker URL (after the worker is gone).
func (c *Client) Forget(rawURL string) { c.urls.Delete(rawURL) }

// Invoke posts the payload to the worker and reads its answer. An error means
// the worker could not be used (connection error, timeout via ctx, protocol
// violation): the caller evicts it.
func (c *Client) Invoke(ctx context.Context, inv *Invocation) (*Result, error) {
	u, err := c.parse(inv.URL)
	if err != nil {
		return nil, fmt.Errorf("worker url %q: %w", inv.URL, err)
	}
	h := make(http.Header, 8)
	h["Content-Type"] = contentTypeJSON
	if inv.RequestID != "" {
		h[HeaderRequestID] = []string{inv.RequestID}
	}
	if inv.TraceID != "" {
		h[HeaderTraceID] = []string{inv.TraceID}
	}
	if inv.ClientContext != "" {
		h[HeaderClientContext] = []string{inv.ClientContext}
	}
	if inv.CognitoIdentity != "" {
		h[HeaderCognitoIdentity] = []string{inv.CognitoIdentity}
	}
	if inv.FunctionARN != "" {
		h[HeaderFunctionARN] = []string{inv.FunctionARN}
	}
	if inv.Tail {
		h[HeaderLogType] = []string{"Tail"}
	}
	if !inv.Deadline.IsZero() {
		h[HeaderDeadlineMs] = []string{strconv.FormatInt(inv.Deadline.UnixMilli(), 10)}
	}
	pr := &payloadReader{b: inv.Payload}
	// The caller may reuse the payload's memory once Invoke returns, even if
	// the transport is still writing (a worker that answered early): the
	// reader stops serving it then.
	defer pr.stop()
	req := (&http.Request{
		Method: http.MethodPost, URL: u, Host: u.Host, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: pr, ContentLength: int64(len(inv.Payload)),
	}).WithContext(ctx)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke worker %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	bp := bufPool.Get().(*[]byte)
	body, err := readBody((*bp)[:0], resp)
	if err != nil {
		putBuf(bp, body)
		return nil, fmt.Errorf("read worker %s response: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("%w: worker %s answered %d: %.200s", ErrProtocol, u.Host, resp.StatusCode, body)
		putBuf(bp, body)
		return nil, err
	}
	rh := resp.Header
	return &Result{
		Body: body, buf: bp,
		FunctionError: first(rh[HeaderFunctionError]),
		ErrorKind:     first(rh[HeaderErrorKind]),
		LogResult:     first(rh[HeaderLogResult]),
		InitDuration:  first(rh[HeaderInitDuration]),
		Duration:      first(rh[HeaderDuration]),
	}, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func readBody(dst []byte, resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > MaxResponse {
		return dst, fmt.Errorf("%w: response of %d bytes is too large", ErrProtocol, n)
	} else if n > 0 && int64(cap(dst)) < n {
		dst = make([]byte, 0, n)
	}
	for {
		if len(dst) == cap(dst) {
			if len(dst) >= MaxResponse {
				return dst, fmt.Errorf("%w: response is too large", ErrProtocol)
			}
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := resp.Body.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// payloadReader serves a request body until stop is called.
type payloadReader struct {
	mu      sync.Mutex
	b       []byte
	off     int
	stopped bool
}

var errStopped = errors.New("invoke finished")

func (r *payloadReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return 0, errStopped
	}
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *payloadReader) Close() error { return nil }

func (r *payloadReader) stop() {
	r.mu.Lock()
	r.stopped = true
	r.b = nil
	r.mu.Unlock()
}
