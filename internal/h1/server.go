// Package h1 is a lean HTTP/1.1 server for esb's hot loopback endpoints
// (the gateway's plain port, the DynamoDB API): one goroutine per connection,
// no goroutine or timer per request, and one write per answer.
package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server serves HTTP/1.x. Compared with net/http's server it starts no
// goroutine per request (net/http reads the connection in the background
// while a handler runs, to notice clients that go away: a goroutine, a read
// and a deadline change per request, and up to two thread wake-ups), reuses
// the header map and buffers of a connection, and answers every request with
// one write carrying Content-Length.
//
// Requests are parsed by http.ReadRequest; the handler gets an ordinary
// *http.Request and http.ResponseWriter. What differs from net/http: the
// response is buffered whole (no chunked responses, no Flush, no Hijack), and
// a request's context ends when the connection is closed, not when the client
// goes away mid-request. There is no TLS and no HTTP/2: serve those with
// net/http.
//
// The zero value is not ready: set Handler. A Server serves one listener.
type Server struct {
	// Handler answers every request.
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request's header (0: no limit).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long (0: never).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header (default 1 MiB).
	MaxHeaderBytes int
	// Logger receives accept errors and handler panics (default slog.Default()).
	Logger *slog.Logger

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*conn]struct{}
	closing atomic.Bool
	date    atomic.Pointer[dateValue]
	readers sync.Pool // *bufio.Reader
}

// Buffered reports whether w is a Server's response writer, which frames the
// answer itself (Content-Length from the whole buffered body), so a handler
// need not set Content-Length to avoid chunking.
func Buffered(w http.ResponseWriter) bool {
	_, ok := w.(*response)
	return ok
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) maxHeader() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return 1 << 20
}

type dateValue struct {
	sec int64
	b   []byte
}

// connection states
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// maxDrain is how much of an unread request body is read and discarded to
// keep the connection; a larger remainder closes it (as net/http does).
const maxDrain = 256 << 10

// Serve accepts connections until Shutdown or Close; then it returns
// http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logger().Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		c := &conn{s: s, nc: nc}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			nc.Close()
			return http.ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections and waits for active
// ones to finish their request, or for ctx (then closes them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// closeIdle closes idle connections and tells whether none are left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
			delete(s.conns, c)
		}
	}
	return len(s.conns) == 0
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.nc.Close()
		delete(s.conns, c)
	}
	return nil
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// httpDate is the Date header value of now, formatted once per second.
func (s *Server) httpDate(now time.Time) []byte {
	sec := now.Unix()
	if d := s.date.Load(); d != nil && d.sec == sec {
		return d.b
	}
	d := &dateValue{sec: sec, b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	s.date.Store(d)
	return d.b
}

// conn is one client connection.
type conn struct {
	s     *Server
	nc    net.Conn
	state atomic.Int32

	cr     connReader
	br     *bufio.Reader
	remote string
	ctx    context.Context
	w      response
	out    []byte
	keys   []string
	// linger: the client may still be sending a body nobody read; close
	// gently so it reads the answer rather than a reset.
	linger bool
}

// connReader limits how much the header of a request may read.
type connReader struct {
	nc     net.Conn
	remain int64
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.remain <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.nc.Read(p)
	r.remain -= int64(n)
	return n, err
}

var errHeaderTooLarge = errors.New("request header too large")

func (c *conn) serve() {
	s := c.s
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), http.LocalAddrContextKey, c.nc.LocalAddr()))
	c.ctx = ctx
	c.remote = c.nc.RemoteAddr().String()
	c.cr.nc = c.nc
	if br, ok := s.readers.Get().(*bufio.Reader); ok {
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(nil, 4<<10)
	}
	c.br.Reset(&c.cr)
	c.w = response{c: c, hdr: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			s.logger().Error("panic serving a request", "remote", c.remote, "panic", p, "stack", string(debug.Stack()))
		}
		cancel()
		c.state.Store(stateClosed)
		if c.linger {
			c.closeGently()
		}
		c.nc.Close()
		s.forget(c)
		c.br.Reset(nil)
		s.readers.Put(c.br)
	}()
	for {
		if s.closing.Load() {
			return
		}
		if s.IdleTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(s.IdleTimeout))
		}
		c.cr.remain = int64(s.maxHeader()) + 4096
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return // closed by Shutdown
		}
		if s.ReadHeaderTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(s.ReadHeaderTimeout))
		}
		req, err := http.ReadRequest(c.br)
		if err != nil {
			c.badRequest(err)
			return
		}
		c.cr.remain = 1<<63 - 1
		c.nc.SetReadDeadline(time.Time{})
		if msg := checkRequest(req); msg != "" {
			c.writeError(http.StatusBadRequest, msg)
			return
		}
		if e := req.Header.Get("Expect"); e != "" && req.ProtoAtLeast(1, 1) && !strings.EqualFold(e, "100-continue") {
			c.writeError(http.StatusExpectationFailed, "unsupported Expect")
			c.linger = req.ContentLength != 0
			return
		}
		if !c.serveOne(req) {
			return
		}
		if !c.state.CompareAndSwap(stateActive, stateIdle) {
			return
		}
	}
}

// lingerTime bounds how long closeGently reads what a client still sends.
const lingerTime = 500 * time.Millisecond

// closeGently half-closes the connection and reads what the client still
// sends for a moment, so that the answer already written is not lost to a
// TCP reset (closing a socket with unread data resets it), as net/http does.
func (c *conn) closeGently() {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.nc.(closeWriter)
	if !ok {
		return
	}
	cw.CloseWrite()
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(c.nc, 64<<20))
}

// badRequest answers a request that could not be parsed, as net/http does.
func (c *conn) badRequest(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return // the client closed the connection
	case errors.Is(err, errHeaderTooLarge):
		c.writeError(http.StatusRequestHeaderFieldsTooLarge, "request header too large")
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return
	}
	if strings.Contains(err.Error(), "unsupported protocol version") || strings.Contains(err.Error(), "malformed HTTP version") {
		c.writeError(http.StatusHTTPVersionNotSupported, "unsupported protocol version")
		return
	}
	c.writeError(http.StatusBadRequest, "malformed request")
}

func (c *conn) writeError(code int, msg string) {
	body := strconv.Itoa(code) + " " + http.StatusText(code) + ": " + msg
	b := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write(b)
}

// checkRequest applies net/http's server-side checks that http.ReadRequest
// leaves out; it returns why the request is refused, or "".
func checkRequest(req *http.Request) string {
	if req.ProtoMajor != 1 {
		return "unsupported protocol version"
	}
	// http.ReadRequest moved the Host header to req.Host.
	if req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect {
		return "missing required Host header"
	}
	if !validHeaderValue(req.Host) {
		return "malformed Host header"
	}
	for k, vv := range req.Header {
		if !validHeaderName(k) {
			return "invalid header name"
		}
		for _, v := range vv {
			if !validHeaderValue(v) {
				return "invalid header value"
			}
		}
	}
	return ""
}

// validHeaderName: a token (RFC 9110 §5.1).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar[s[i]] {
			return false
		}
	}
	return true
}

// validHeaderValue: no control characters but tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// expectContinue sends "100 Continue" when the handler first reads the body.
type expectContinue struct {
	c    *conn
	body io.ReadCloser
	sent bool
}

func (e *expectContinue) Read(p []byte) (int, error) {
	if !e.sent {
		e.sent = true
		if _, err := e.c.nc.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			return 0, err
		}
	}
	return e.body.Read(p)
}

func (e *expectContinue) Close() error { return e.body.Close() }

// serveOne runs the handler for req and writes its answer; it tells whether
// the connection can carry another request.
func (c *conn) serveOne(req *http.Request) bool {
	req = req.WithContext(c.ctx)
	req.RemoteAddr = c.remote
	keep := !req.Close && req.ProtoAtLeast(1, 1) && !c.s.closing.Load()
	var ec *expectContinue
	if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 && strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		ec = &expectContinue{c: c, body: req.Body}
		req.Body = ec
	}
	w := &c.w
	w.status, w.body, w.head = 0, c.out[:0], req.Method == http.MethodHead
	c.s.Handler.ServeHTTP(w, req)

	// Read what the handler left of the body, so the next request is in step.
	if req.Body != nil && req.Body != http.NoBody {
		if ec != nil && !ec.sent {
			keep = false // the client may or may not send the body
			c.linger = true
		} else if n, err := io.CopyN(io.Discard, req.Body, maxDrain+1); n > maxDrain || err != nil && err != io.EOF {
			keep = false
			c.linger = true
		}
	}
	if !keep || strings.EqualFold(w.hdr.Get("Connection"), "close") {
		keep = false
	}
	err := c.writeResponse(keep)
	if cap(w.body) <= 1<<20 {
		c.out = w.body[:0]
	} else {
		c.out = nil
	}
	clear(w.hdr)
	return keep && err == nil
}

// writeResponse writes the status line, the headers and the body in one
// system call.
func (c *conn) writeResponse(keep bool) error {
	w := &c.w
	code := w.status
	if code == 0 {
		code = http.StatusOK
	}
	bodyOK := bodyAllowed(code)
	body := w.body
	if !bodyOK || w.head {
		body = nil
	}
	// The head goes after the body in the same buffer, then the two are
	// written together (one writev, or one write when the body is small).
	start := len(w.body)
	b := w.body
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if t := http.StatusText(code); t != "" {
		b = append(b, t...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	b = append(b, "\r\n"...)
	keys := c.keys[:0]
	for k := range w.hdr {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Date":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !validHeaderName(k) {
			continue
		}
		for _, v := range w.hdr[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	c.keys = keys[:0]
	if _, ok := w.hdr["Date"]; ok {
		b = append(b, "Date: "...)
		b = appendHeaderValue(b, w.hdr.Get("Date"))
	} else {
		b = append(b, "Date: "...)
		b = append(b, c.s.httpDate(time.Now())...)
	}
	b = append(b, "\r\n"...)
	if bodyOK {
		if _, ok := w.hdr["Content-Type"]; !ok && len(body) > 0 {
			b = append(b, "Content-Type: "...)
			b = append(b, http.DetectContentType(body)...)
			b = append(b, "\r\n"...)
		}
		switch {
		case !w.head:
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, int64(len(body)), 10)
			b = append(b, "\r\n"...)
		case len(w.body) > 0:
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, int64(len(w.body)), 10)
			b = append(b, "\r\n"...)
		case w.hdr.Get("Content-Length") != "":
			b = append(b, "Content-Length: "...)
			b = appendHeaderValue(b, w.hdr.Get("Content-Length"))
			b = append(b, "\r\n"...)
		}
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	w.body = b
	head := b[start:]
	var err error
	if len(body) <= 16<<10 {
		// Small: copy the body after the head, one write.
		b = append(b, body...)
		w.body = b
		_, err = c.nc.Write(b[start:])
	} else {
		bufs := net.Buffers{head, body}
		_, err = bufs.WriteTo(c.nc)
	}
	return err
}

// appendHeaderValue appends v with CR and LF replaced by spaces and outer
// blanks trimmed, as net/http writes header values.
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// bodyAllowed reports whether a response with this status may have a body.
func bodyAllowed(code int) bool {
	return !(code >= 100 && code <= 199 || code == http.StatusNoContent || code == http.StatusNotModified)
}

// response is the ResponseWriter of one request: headers and body are
// buffered and written together when the handler returns.
type response struct {
	c      *conn
	hdr    http.Header
	status int
	body   []byte
	head   bool
}

func (w *response) Header() http.Header { return w.hdr }

func (w *response) WriteHeader(code int) {
	if w.status != 0 || code < 200 || code > 999 {
		return // informational answers are not sent; the first status wins
	}
	w.status = code
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, p...)
	return len(p), nil
}
