package h1

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startH1 serves h with an Server on loopback.
func startH1(t *testing.T, h http.HandlerFunc) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, MaxHeaderBytes: 4 << 10, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
	})
	return s, ln.Addr().String()
}

// exchange sends raw bytes on one connection and reads n responses.
func exchange(t *testing.T, addr, raw string, n int, method string) []*http.Response {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v", len(out)+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
	return out
}

func bodyOf(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestH1ServerKeepAliveAndFraming(t *testing.T) {
	_, addr := startH1(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Remote", r.RemoteAddr)
		w.Header()["X-Split"] = []string{"a\r\nInjected: yes"}
		if r.URL.Path == "/nocontent" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.URL.Path == "/html" {
			w.Write([]byte("<html><body>hi</body></html>"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(`{"got":"`))
		w.Write(body)
		w.Write([]byte(`"}`))
	})
	// Pipelined: a POST with a body, a chunked POST, a 204, a sniffed body.
	raw := "POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n1\r\nz\r\n0\r\n\r\n" +
		"GET /nocontent HTTP/1.1\r\nHost: h\r\n\r\n" +
		"GET /html HTTP/1.1\r\nHost: h\r\n\r\n"
	rs := exchange(t, addr, raw, 4, "GET")
	if rs[0].StatusCode != 201 || bodyOf(rs[0]) != `{"got":"abc"}` || rs[0].ContentLength != 13 || rs[0].Header.Get("X-Host") != "example.com" {
		t.Errorf("first: %d %v", rs[0].StatusCode, rs[0].Header)
	}
	if rs[0].Header.Get("Date") == "" || !strings.HasPrefix(rs[0].Header.Get("X-Remote"), "127.0.0.1:") {
		t.Errorf("Date and RemoteAddr: %v", rs[0].Header)
	}
	if rs[0].Header.Get("Injected") != "" || rs[0].Header.Get("X-Split") != "a  Injected: yes" {
		t.Errorf("CR/LF in a header value must not split it: %q", rs[0].Header)
	}
	if got := bodyOf(rs[1]); got != `{"got":"xyz"}` || len(rs[1].TransferEncoding) != 0 {
		t.Errorf("chunked request: %q %v", got, rs[1].TransferEncoding)
	}
	if rs[2].StatusCode != 204 || rs[2].Header.Get("Content-Length") != "" {
		t.Errorf("204: %d %v", rs[2].StatusCode, rs[2].Header)
	}
	if ct := rs[3].Header.Get("Content-Type"); ct != "text/html; charset=utf-8" || rs[3].Close {
		t.Errorf("sniffed Content-Type %q, close %v", ct, rs[3].Close)
	}
}

func TestH1ServerHeadCloseAndHTTP10(t *testing.T) {
	_, addr := startH1(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	})
	rs := exchange(t, addr, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 1, "HEAD")
	if rs[0].ContentLength != 5 || bodyOf(rs[0]) != "" {
		t.Errorf("HEAD: length %d", rs[0].ContentLength)
	}
	rs = exchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 1, "GET")
	if !rs[0].Close || bodyOf(rs[0]) != "hello" {
		t.Errorf("Connection: close not honoured: %v", rs[0].Header)
	}
	rs = exchange(t, addr, "GET / HTTP/1.0\r\n\r\n", 1, "GET")
	if !rs[0].Close || bodyOf(rs[0]) != "hello" {
		t.Errorf("HTTP/1.0: %v", rs[0].Header)
	}
}

func TestH1ServerRefusesBadRequests(t *testing.T) {
	_, addr := startH1(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) })
	for _, c := range []struct {
		raw  string
		code int
	}{
		{"GET / HTTP/1.1\r\n\r\n", 400},                                                    // no Host
		{"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400},                          // invalid header name
		{"GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431}, // too large
		{"GARBAGE\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n", 417},
	} {
		rs := exchange(t, addr, c.raw, 1, "GET")
		if rs[0].StatusCode != c.code || !rs[0].Close {
			t.Errorf("%.40q: %d, close %v", c.raw, rs[0].StatusCode, rs[0].Close)
		}
	}
}

func TestH1ServerExpectContinue(t *testing.T) {
	_, addr := startH1(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reject" {
			w.WriteHeader(413)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	io.WriteString(nc, "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("want 100 Continue before the body, got %q %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(nc, "data")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || bodyOf(resp) != "data" {
		t.Fatalf("after 100 Continue: %v", err)
	}
	// A request refused before its body is read: no 100, the connection closes.
	rs := exchange(t, addr, "POST /reject HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", 1, "POST")
	if rs[0].StatusCode != 413 || !rs[0].Close {
		t.Errorf("rejected: %d close %v", rs[0].StatusCode, rs[0].Close)
	}
}

func TestH1ServerShutdownWaitsForActiveRequests(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s, addr := startH1(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		w.Write([]byte("done"))
	})
	// An idle keep-alive connection does not hold Shutdown up.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	got := make(chan string, 1)
	go func() {
		rs := exchange(t, addr, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET")
		got <- bodyOf(rs[0])
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if b := <-got; b != "done" {
		t.Errorf("in-flight request got %q", b)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestH1ServerLargeBodies(t *testing.T) {
	_, addr := startH1(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
		w.Write(b)
	})
	big := strings.Repeat("0123456789", 100_000) // 1 MB each way, written with writev
	raw := "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n" + big + "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
	rs := exchange(t, addr, raw, 2, "GET")
	if got := bodyOf(rs[0]); got != big+big || rs[0].ContentLength != 2_000_000 {
		t.Errorf("large body: %d bytes, Content-Length %d", len(got), rs[0].ContentLength)
	}
	if rs[1].StatusCode != 200 || rs[1].ContentLength != 0 {
		t.Errorf("request after a large one: %d %d", rs[1].StatusCode, rs[1].ContentLength)
	}
}
