package worker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const invokePath = "/2015-03-31/functions/function/invocations"

// rawServer is a TCP server on loopback whose handler speaks raw HTTP/1.x,
// so tests control every byte of the answer.
type rawServer struct {
	t       *testing.T
	ln      net.Listener
	url     string
	accepts atomic.Int64
	// closed receives the number of a connection when its handler saw the
	// client close it (or the handler returned).
	closed chan int
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

// serverConn is one accepted connection.
type serverConn struct {
	net.Conn
	br *bufio.Reader
	n  int // 1 for the first accepted connection
}

// next reads one request and its body; io.EOF when the client closed.
func (sc *serverConn) next() (*http.Request, []byte, error) {
	req, err := http.ReadRequest(sc.br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	return req, body, err
}

// waitEOF blocks until the client closes the connection.
func (sc *serverConn) waitEOF() {
	_, _ = io.Copy(io.Discard, sc.br)
}

func newRawServer(t *testing.T, handle func(sc *serverConn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{t: t, ln: ln, url: "http://" + ln.Addr().String() + invokePath, closed: make(chan int, 64)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.accepts.Add(1))
			s.mu.Lock()
			s.conns = append(s.conns, nc)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(&serverConn{Conn: nc, br: bufio.NewReader(nc), n: n})
				nc.Close()
				select {
				case s.closed <- n:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// serveEach answers every request of a connection with reply's bytes; an
// empty reply closes the connection.
func serveEach(reply func(sc *serverConn, req *http.Request, body []byte) string) func(*serverConn) {
	return func(sc *serverConn) {
		for {
			req, body, err := sc.next()
			if err != nil {
				return
			}
			r := reply(sc, req, body)
			if r == "" {
				return
			}
			if _, err := io.WriteString(sc, r); err != nil {
				return
			}
		}
	}
}

// ok200 is a complete answer with a Content-Length.
func ok200(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// invoke runs one invoke, failing the test if it does not return within 10 s
// (a client looping forever must not hang the run).
func invoke(t *testing.T, c *Client, ctx context.Context, inv *Invocation) (*Result, error) {
	t.Helper()
	type out struct {
		res *Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := c.Invoke(ctx, inv)
		ch <- out{res, err}
	}()
	select {
	case o := <-ch:
		return o.res, o.err
	case <-time.After(10 * time.Second):
		t.Fatal("invoke did not return within 10 s")
		return nil, nil
	}
}

// mustInvoke invokes and wants success with the given body.
func mustInvoke(t *testing.T, c *Client, url, payload, want string) *Result {
	t.Helper()
	res, err := invoke(t, c, context.Background(), &Invocation{URL: url, Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if string(res.Body) != want {
		t.Fatalf("body %.80q, want %.80q", res.Body, want)
	}
	return res
}

func wantAccepts(t *testing.T, s *rawServer, n int64) {
	t.Helper()
	if got := s.accepts.Load(); got != n {
		t.Errorf("server accepted %d connections, want %d", got, n)
	}
}

// waitClosed waits until the server handler of connection n returned.
func waitClosed(t *testing.T, s *rawServer, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got := <-s.closed:
			if got == n {
				return
			}
		case <-deadline:
			t.Fatalf("connection %d was not closed", n)
		}
	}
}

func TestContentLengthAndRequestHeaders(t *testing.T) {
	var seen *http.Request
	var seenBody []byte
	s := newRawServer(t, serveEach(func(_ *serverConn, req *http.Request, body []byte) string {
		seen, seenBody = req, body
		return "HTTP/1.1 200 OK\r\ncontent-length: " + strconv.Itoa(len(body)) + "\r\n" +
			"X-Amz-Function-Error: Unhandled\r\nx-esb-error-kind: function\r\nX-ESB-DURATION-MS:  1.25 \r\n" +
			"X-Esb-Init-Duration-Ms: 3.5\r\nX-Amz-Log-Result: bG9n\r\nX-Other: ignored\r\n\r\n" + string(body)
	}))
	c := NewClient()
	deadline := time.UnixMilli(1767225600123)
	inv := &Invocation{URL: s.url, Payload: []byte(`{"a":1}`), RequestID: "rid-1", TraceID: "Root=1-abc",
		ClientContext: "eyJ9", CognitoIdentity: "cog", FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:f",
		Tail: true, Deadline: deadline}
	res, err := invoke(t, c, context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != `{"a":1}` || res.FunctionError != "Unhandled" || res.ErrorKind != KindFunction ||
		res.Duration != "1.25" || res.InitDuration != "3.5" || res.LogResult != "bG9n" || !res.Failed() {
		t.Errorf("result %+v", res)
	}
	res.Release()
	if seen.Method != "POST" || seen.RequestURI != invokePath || seen.Proto != "HTTP/1.1" || seen.Host != s.ln.Addr().String() {
		t.Errorf("request line %s %s %s host %s", seen.Method, seen.RequestURI, seen.Proto, seen.Host)
	}
	h := seen.Header
	for name, want := range map[string]string{
		"Content-Type": "application/json", "Content-Length": "7", HeaderRequestID: "rid-1", HeaderTraceID: "Root=1-abc",
		HeaderClientContext: "eyJ9", HeaderCognitoIdentity: "cog", HeaderFunctionARN: inv.FunctionARN,
		HeaderLogType: "Tail", HeaderDeadlineMs: "1767225600123",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("request header %s = %q, want %q", name, got, want)
		}
	}
	if string(seenBody) != `{"a":1}` {
		t.Errorf("server got %q", seenBody)
	}
	// A minimal invocation sends none of the optional headers.
	res = mustInvoke(t, c, s.url, "", "")
	res.Release()
	for _, name := range []string{HeaderRequestID, HeaderTraceID, HeaderClientContext, HeaderCognitoIdentity,
		HeaderFunctionARN, HeaderLogType, HeaderDeadlineMs} {
		if v, ok := seen.Header[name]; ok {
			t.Errorf("empty invocation sent %s: %q", name, v)
		}
	}
	if seen.ContentLength != 0 {
		t.Errorf("Content-Length %d", seen.ContentLength)
	}
	wantAccepts(t, s, 1)
}

func TestChunkedWithExtensionsAndTrailers(t *testing.T) {
	big := strings.Repeat("x", 10<<10)
	s := newRawServer(t, serveEach(func(_ *serverConn, _ *http.Request, body []byte) string {
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Esb-Duration-Ms: 2\r\n\r\n")
		b.WriteString("5;name=value\r\nhello\r\n")
		b.WriteString("1A ; x=\"y\"\r\nabcdefghijklmnopqrstuvwxyz\r\n")
		for range 3 {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(big), big)
		}
		fmt.Fprintf(&b, "%X\r\n%s\r\n", len(body), body)
		b.WriteString("0;last\r\nX-Trailer: t\r\nX-Esb-Error-Kind: exit\r\n\r\n")
		return b.String()
	}))
	c := NewClient()
	for _, p := range []string{"one", "two", "three"} {
		res := mustInvoke(t, c, s.url, p, "hello"+"abcdefghijklmnopqrstuvwxyz"+big+big+big+p)
		if res.Duration != "2" || res.ErrorKind != "" {
			t.Errorf("headers %+v (trailer fields are not headers)", res)
		}
		res.Release()
	}
	// The whole chunked body and trailer were consumed: the connection was reused.
	wantAccepts(t, s, 1)
}

func TestChunkedManySmallChunks(t *testing.T) {
	// 500 000 one-byte chunks: 3 MB of chunk framing, more than the header
	// budget, for a body well under MaxResponse.
	const n = 500000
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	for range n {
		b.WriteString("1\r\nx\r\n")
	}
	b.WriteString("0\r\n\r\n")
	reply := b.String()
	s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string { return reply }))
	c := NewClient()
	mustInvoke(t, c, s.url, "{}", strings.Repeat("x", n)).Release()
}

func TestCloseDelimitedBody(t *testing.T) {
	body := strings.Repeat("b", 100<<10) // larger than the pooled buffer
	s := newRawServer(t, serveEach(func(sc *serverConn, _ *http.Request, _ []byte) string {
		io.WriteString(sc, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"+body)
		return ""
	}))
	c := NewClient()
	mustInvoke(t, c, s.url, "{}", body).Release()
	mustInvoke(t, c, s.url, "{}", body).Release()
	wantAccepts(t, s, 2)
}

func TestHTTP10(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		accepts    int64
	}{
		{"no keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", 3},
		{"keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n", 1},
		{"1.1 close token list", "HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 2\r\n\r\n", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The server keeps every connection open: only the client's
			// reading of the answer decides about reuse.
			s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string { return tc.head + "{}" }))
			c := NewClient()
			for range 3 {
				mustInvoke(t, c, s.url, "{}", "{}").Release()
			}
			wantAccepts(t, s, tc.accepts)
		})
	}
}

func TestInformationalResponsesSkipped(t *testing.T) {
	s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string {
		return "HTTP/1.1 100 Continue\r\n\r\n" +
			"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\nX-Esb-Error-Kind: timeout\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
	}))
	c := NewClient()
	for range 2 {
		res := mustInvoke(t, c, s.url, "{}", "{}")
		if res.ErrorKind != "" {
			t.Errorf("a 1xx header leaked into the result: %+v", res)
		}
		res.Release()
	}
	wantAccepts(t, s, 1)
}

func TestConnectionCloseDialsAgain(t *testing.T) {
	s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string {
		return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
	}))
	c := NewClient()
	mustInvoke(t, c, s.url, "{}", "{}").Release()
	// The client closes the connection it was told to close.
	waitClosed(t, s, 1)
	mustInvoke(t, c, s.url, "{}", "{}").Release()
	wantAccepts(t, s, 2)
}

func TestStaleIdleConnection(t *testing.T) {
	t.Run("closed by the server", func(t *testing.T) {
		// One answer per connection, then the server closes it (as a worker
		// does on its idle timeout).
		s := newRawServer(t, func(sc *serverConn) {
			if _, _, err := sc.next(); err == nil {
				io.WriteString(sc, ok200("{}"))
			}
		})
		c := NewClient()
		for i := 1; i <= 5; i++ {
			mustInvoke(t, c, s.url, "{}", "{}").Release()
			waitClosed(t, s, i)
			time.Sleep(5 * time.Millisecond) // the FIN reaches the client's socket
		}
		wantAccepts(t, s, 5)
	})
	t.Run("unsolicited bytes", func(t *testing.T) {
		// The server answers, then sends a 408 on the idle connection and
		// keeps it open: that connection is out of step.
		s := newRawServer(t, func(sc *serverConn) {
			if _, _, err := sc.next(); err != nil {
				return
			}
			io.WriteString(sc, ok200("{}"))
			time.Sleep(20 * time.Millisecond)
			io.WriteString(sc, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
			sc.waitEOF()
		})
		c := NewClient()
		mustInvoke(t, c, s.url, "{}", "{}").Release()
		time.Sleep(100 * time.Millisecond)
		mustInvoke(t, c, s.url, "{}", "{}").Release()
		wantAccepts(t, s, 2)
		waitClosed(t, s, 1)
	})
}

func TestResponseTooLarge(t *testing.T) {
	chunk := strings.Repeat("c", 1<<20)
	exact := strings.Repeat("e", MaxResponse)
	for _, tc := range []struct {
		name   string
		handle func(sc *serverConn)
		want   int // 0: error, else body length
	}{
		{"content-length over", func(sc *serverConn) {
			fmt.Fprintf(sc, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", MaxResponse+1)
			sc.waitEOF()
		}, 0},
		{"content-length exact", func(sc *serverConn) {
			fmt.Fprintf(sc, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", MaxResponse, exact)
			sc.waitEOF()
		}, MaxResponse},
		{"chunked over", func(sc *serverConn) {
			io.WriteString(sc, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			for {
				if _, err := fmt.Fprintf(sc, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
					return
				}
			}
		}, 0},
		{"close-delimited over", func(sc *serverConn) {
			io.WriteString(sc, "HTTP/1.1 200 OK\r\n\r\n"+exact+"!")
		}, 0},
		{"close-delimited exact", func(sc *serverConn) {
			io.WriteString(sc, "HTTP/1.1 200 OK\r\n\r\n"+exact)
		}, MaxResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawServer(t, func(sc *serverConn) {
				if _, _, err := sc.next(); err == nil {
					tc.handle(sc)
				}
			})
			c := NewClient()
			res, err := invoke(t, c, context.Background(), &Invocation{URL: s.url, Payload: []byte("{}")})
			if tc.want == 0 {
				if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "too large") {
					t.Fatalf("want a too-large protocol error, got %v", err)
				}
				waitClosed(t, s, 1) // the connection is not kept
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Body) != tc.want {
				t.Errorf("body of %d bytes, want %d", len(res.Body), tc.want)
			}
			res.Release()
		})
	}
}

func TestNon200IsProtocolErrorWithBody(t *testing.T) {
	s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string {
		body := `{"errorType":"TooManyRequestsException","errorMessage":"worker is busy"}`
		return "HTTP/1.1 429 Too Many Requests\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}))
	c := NewClient()
	for range 2 {
		_, err := invoke(t, c, context.Background(), &Invocation{URL: s.url, Payload: []byte("{}")})
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "worker is busy") {
			t.Errorf("error %v", err)
		}
	}
	// A worker that answered non-200 is not trusted with another request.
	wantAccepts(t, s, 2)
}

func TestMalformedResponses(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		want        error // nil: any error
	}{
		{"empty", "", io.EOF},
		{"status not a number", "HTTP/1.1 2x0 OK\r\n\r\n", ErrProtocol},
		{"HTTP/2.0", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", ErrProtocol},
		{"HTTP/1.2", "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", ErrProtocol},
		{"not HTTP", "ICY 200 OK\r\n\r\n", ErrProtocol},
		{"no space after status", "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n", ErrProtocol},
		{"short status line", "HTTP/1.1 20\r\n\r\n", ErrProtocol},
		{"header without colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", ErrProtocol},
		{"space in header name", "HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n", ErrProtocol},
		{"empty header name", "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n", ErrProtocol},
		{"folded header", "HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\nContent-Length: 0\r\n\r\n", ErrProtocol},
		{"content-length not a number", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", ErrProtocol},
		{"negative content-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ErrProtocol},
		{"conflicting content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", ErrProtocol},
		{"unsupported transfer-encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", ErrProtocol},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ErrProtocol},
		{"empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;ext\r\n", ErrProtocol},
		{"no CRLF after chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX\r\n0\r\n\r\n", ErrProtocol},
		{"chunk-size line too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;" + strings.Repeat("e", 5000) + "\r\n{}\r\n0\r\n\r\n", ErrProtocol},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", ErrProtocol},
		{"truncated head", "HTTP/1.1 200 OK\r\nContent-Le", io.ErrUnexpectedEOF},
		{"truncated fixed body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", io.ErrUnexpectedEOF},
		{"truncated chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", io.ErrUnexpectedEOF},
		{"missing last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", io.ErrUnexpectedEOF},
		{"headers too large", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", maxHeaderBytes) + "\r\nContent-Length: 0\r\n\r\n", ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawServer(t, func(sc *serverConn) {
				if _, _, err := sc.next(); err == nil {
					io.WriteString(sc, tc.reply)
				}
			})
			c := NewClient()
			res, err := invoke(t, c, context.Background(), &Invocation{URL: s.url, Payload: []byte("{}")})
			if err == nil {
				t.Fatalf("no error; body %.60q", res.Body)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want one that is %v", err, tc.want)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestContextEndsSlowInvoke(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			s := newRawServer(t, func(sc *serverConn) {
				for {
					if _, _, err := sc.next(); err != nil {
						return
					}
					if sc.n == 1 {
						// The first connection's worker is slow: it answers
						// only when the test ends, if the client still listens.
						<-release
					}
					if _, err := io.WriteString(sc, ok200("{}")); err != nil {
						return
					}
				}
			})
			defer close(release)
			c := NewClient()
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := invoke(t, c, ctx, &Invocation{URL: s.url, Payload: []byte("{}")})
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v to notice the context", d)
			}
			// The connection with the unanswered request is not reused.
			mustInvoke(t, c, s.url, "{}", "{}").Release()
			wantAccepts(t, s, 2)
		})
	}
	t.Run("ended before", func(t *testing.T) {
		s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string { return ok200("{}") }))
		c := NewClient()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := invoke(t, c, ctx, &Invocation{URL: s.url}); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v", err)
		}
		wantAccepts(t, s, 0)
	})
	t.Run("long deadline not reached", func(t *testing.T) {
		// A context that does not end leaves the connection reusable.
		s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string { return ok200("{}") }))
		c := NewClient()
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			res, err := invoke(t, c, ctx, &Invocation{URL: s.url})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			res.Release()
		}
		wantAccepts(t, s, 1)
	})
}

func TestLargePayloadsArriveIntact(t *testing.T) {
	s := newRawServer(t, serveEach(func(_ *serverConn, req *http.Request, body []byte) string {
		if req.ContentLength != int64(len(body)) {
			return "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
		}
		return ok200(string(body))
	}))
	c := NewClient()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, inlinePayload - 1, inlinePayload, inlinePayload + 1, 64 << 10, 1 << 20, 6 << 20} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.IntN(256))
		}
		res, err := invoke(t, c, context.Background(), &Invocation{URL: s.url, Payload: p, RequestID: "r"})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(res.Body, p) {
			t.Fatalf("%d bytes: echo differs", n)
		}
		res.Release()
	}
	wantAccepts(t, s, 1)
}

func TestHeaderInjectionRefused(t *testing.T) {
	s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string { return ok200("{}") }))
	c := NewClient()
	for _, inv := range []Invocation{
		{URL: s.url, RequestID: "a\r\nX-Evil: 1"},
		{URL: s.url, TraceID: "t\nX-Evil: 1"},
		{URL: s.url, ClientContext: "c\x00"},
		{URL: s.url, CognitoIdentity: "c\x7f"},
		{URL: s.url, FunctionARN: "arn\r"},
		{URL: s.url + "\r\nX-Evil: 1"},
		{URL: "https://" + s.ln.Addr().String() + invokePath},
		{URL: "http:///path"},
	} {
		if _, err := invoke(t, c, context.Background(), &inv); err == nil {
			t.Errorf("invocation %+v was sent", inv)
		} else if strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
	wantAccepts(t, s, 0)
	// Tabs and UTF-8 are header text, not framing.
	res, err := invoke(t, c, context.Background(), &Invocation{URL: s.url, RequestID: "a\tb", ClientContext: "é"})
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
}

func TestSequentialInvokesReuseOneConnection(t *testing.T) {
	var requests atomic.Int64
	s := newRawServer(t, serveEach(func(_ *serverConn, _ *http.Request, body []byte) string {
		requests.Add(1)
		return ok200(string(body))
	}))
	c := NewClient()
	const n = 50
	for i := range n {
		p := strconv.Itoa(i)
		mustInvoke(t, c, s.url, p, p).Release()
	}
	wantAccepts(t, s, 1)
	if got := requests.Load(); got != n {
		t.Errorf("server saw %d requests, want %d", got, n)
	}
}

func TestResultOutlivesNextInvoke(t *testing.T) {
	s := newRawServer(t, serveEach(func(_ *serverConn, _ *http.Request, body []byte) string { return ok200(string(body)) }))
	c := NewClient()
	first := mustInvoke(t, c, s.url, "AAAA", "AAAA")
	second := mustInvoke(t, c, s.url, "BBBB", "BBBB")
	if string(first.Body) != "AAAA" {
		t.Errorf("first body became %q", first.Body)
	}
	first.Release()
	second.Release()
}

func TestConcurrentInvokesUseOwnConnections(t *testing.T) {
	const n = 8
	var inflight atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	s := newRawServer(t, serveEach(func(_ *serverConn, _ *http.Request, body []byte) string {
		// Every request waits until all n are in the server at once: a
		// client that queued two on one connection would never get there.
		if inflight.Add(1) == n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
			return ok200(string(body))
		case <-time.After(5 * time.Second):
			return "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 7\r\n\r\ntimeout"
		}
	}))
	c := NewClient()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			p := strconv.Itoa(i)
			res, err := c.Invoke(context.Background(), &Invocation{URL: s.url, Payload: []byte(p)})
			if err != nil {
				errs <- err
				return
			}
			if string(res.Body) != p {
				errs <- fmt.Errorf("invoke %d got %q", i, res.Body)
			}
			res.Release()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantAccepts(t, s, n)
	// One connection of the n stays idle and serves the next invoke; the
	// others were closed.
	mustInvoke(t, c, s.url, "x", "x").Release()
	wantAccepts(t, s, n)
}

func TestSweepClosesIdleAndForgetsEndpoints(t *testing.T) {
	s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string { return ok200("{}") }))
	c := NewClient()
	mustInvoke(t, c, s.url, "{}", "{}").Release()
	if !c.armed.Load() {
		t.Error("a new endpoint did not arm the sweeper")
	}
	c.sweep(c.now()) // nothing is old yet
	if _, ok := c.endpoints.Load(s.url); !ok {
		t.Fatal("sweep dropped a fresh endpoint")
	}
	c.sweep(c.now() + int64(idleTimeout) + 1)
	waitClosed(t, s, 1)
	if _, ok := c.endpoints.Load(s.url); ok {
		t.Error("sweep kept an unused endpoint")
	}
	mustInvoke(t, c, s.url, "{}", "{}").Release()
	wantAccepts(t, s, 2)

	// The timer's sweep finds nothing old, keeps the timer armed while
	// endpoints remain.
	c.timedSweep()
	if !c.armed.Load() {
		t.Error("sweeper disarmed while an endpoint remains")
	}
}

func TestSweepSparesInvokeInFlight(t *testing.T) {
	entered := make(chan struct{})
	proceed := make(chan struct{})
	s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string {
		entered <- struct{}{}
		<-proceed
		return ok200("{}")
	}))
	c := NewClient()
	done := make(chan error, 1)
	go func() {
		res, err := c.Invoke(context.Background(), &Invocation{URL: s.url})
		if err == nil {
			res.Release()
		}
		done <- err
	}()
	<-entered
	c.sweep(c.now() + int64(idleTimeout) + 1)
	if _, ok := c.endpoints.Load(s.url); !ok {
		t.Error("sweep dropped an endpoint with an invoke in flight")
	}
	close(proceed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() { <-entered }()
	mustInvoke(t, c, s.url, "", "{}").Release()
	wantAccepts(t, s, 1)
}

func TestForgetAndCloseIdle(t *testing.T) {
	s := newRawServer(t, serveEach(func(*serverConn, *http.Request, []byte) string { return ok200("{}") }))
	c := NewClient()
	mustInvoke(t, c, s.url, "{}", "{}").Release()
	c.Forget(s.url)
	waitClosed(t, s, 1)
	if _, ok := c.endpoints.Load(s.url); ok {
		t.Error("Forget kept the endpoint")
	}
	mustInvoke(t, c, s.url, "{}", "{}").Release()
	c.CloseIdle()
	waitClosed(t, s, 2)
	mustInvoke(t, c, s.url, "{}", "{}").Release()
	wantAccepts(t, s, 3)
}

func TestForgetDuringInvokeClosesItsConnection(t *testing.T) {
	entered := make(chan struct{}, 1)
	proceed := make(chan struct{})
	s := newRawServer(t, serveEach(func(sc *serverConn, _ *http.Request, _ []byte) string {
		if sc.n == 1 {
			entered <- struct{}{}
			<-proceed
		}
		return ok200("{}")
	}))
	c := NewClient()
	done := make(chan error, 1)
	go func() {
		res, err := c.Invoke(context.Background(), &Invocation{URL: s.url})
		if err == nil {
			res.Release()
		}
		done <- err
	}()
	<-entered
	c.Forget(s.url)
	close(proceed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitClosed(t, s, 1) // closed, not parked, when the invoke ended
	mustInvoke(t, c, s.url, "{}", "{}").Release()
	wantAccepts(t, s, 2)
}

// TestConcurrentChurn runs invokes against several workers while sweeps,
// Forget and CloseIdle run: no invoke may fail, and -race must stay quiet.
func TestConcurrentChurn(t *testing.T) {
	var servers []*rawServer
	for range 3 {
		servers = append(servers, newRawServer(t, serveEach(func(_ *serverConn, _ *http.Request, body []byte) string {
			return ok200(string(body))
		})))
	}
	c := NewClient()
	stop := make(chan struct{})
	var chaos sync.WaitGroup
	chaos.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			switch i % 3 {
			case 0:
				c.sweep(c.now() + int64(idleTimeout) + 1)
			case 1:
				c.Forget(servers[i%len(servers)].url)
			case 2:
				c.CloseIdle()
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				p := fmt.Sprintf("%d-%d", g, i)
				res, err := c.Invoke(context.Background(), &Invocation{URL: servers[(g+i)%len(servers)].url, Payload: []byte(p)})
				if err != nil {
					errs <- err
					return
				}
				if string(res.Body) != p {
					errs <- fmt.Errorf("got %q, want %q", res.Body, p)
					res.Release()
					return
				}
				res.Release()
			}
		})
	}
	wg.Wait()
	close(stop)
	chaos.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestParseHelpers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int64
		okay bool
	}{
		{"0", 0, true}, {"1a", 26, true}, {"FF;x=y", 255, true}, {"10 ;x", 16, true},
		{"", 0, false}, {";x", 0, false}, {"g", 0, false}, {"1\x01", 0, false},
		{"1;\x01", 0, false}, {"1000000000000000", 0, false}, {"-1", 0, false},
	} {
		n, ok := parseChunkSize([]byte(tc.in))
		if ok != tc.okay || (ok && n != tc.n) {
			t.Errorf("parseChunkSize(%q) = %d, %v", tc.in, n, ok)
		}
	}
	for _, tc := range []struct {
		in   string
		n    int64
		okay bool
	}{{"0", 0, true}, {"123", 123, true}, {"", 0, false}, {"1 2", 0, false}, {"+1", 0, false}, {"9999999999999999999", 0, false}} {
		n, ok := parseLength([]byte(tc.in))
		if ok != tc.okay || (ok && n != tc.n) {
			t.Errorf("parseLength(%q) = %d, %v", tc.in, n, ok)
		}
	}
}
