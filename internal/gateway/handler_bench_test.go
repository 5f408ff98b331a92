package gateway

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// The handler benchmarks measure the gateway's own cost per request — CPU
// and allocations — against a worker that answers without allocating, so
// allocs/op are the gateway's:
//
//	go test ./internal/gateway -run XXX -bench 'Handler' -benchmem
//
// handler calls ServeHTTP directly (no HTTP server); server sends the
// request over a loopback keep-alive connection with a client that does not
// allocate either (net/http's server included). Each reports, in the same
// run, the same request sent straight to the raw worker as a baseline.

// rawWorkerReply is a typical esb-rie answer carrying an API Gateway proxy
// response.
func rawWorkerReply() []byte {
	body := `{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"hello\":\"world\"}"}`
	return []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amzn-Requestid: 0e5b9d4e-0000-4000-8000-000000000000\r\n" +
		"X-Esb-Duration-Ms: 0.21\r\nDate: Thu, 27 Nov 2026 19:00:00 GMT\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// serveRaw answers every HTTP/1.1 request on nc with reply, without
// allocating per request.
func serveRaw(nc net.Conn, reply []byte) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	for {
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > 16 && bytes.EqualFold(line[:15], []byte("content-length:")) {
				n = 0
				for _, c := range bytes.TrimSpace(line[15:]) {
					n = n*10 + int(c-'0')
				}
			}
		}
		if n < 0 {
			n = 0
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		if _, err := nc.Write(reply); err != nil {
			return
		}
	}
}

// rawAgent is the fake agent whose workers are raw loopback servers.
type rawAgent struct {
	*fakeAgent
	mu  sync.Mutex
	lns []net.Listener
}

func (a *rawAgent) EnsureContainer(_ context.Context, in *agentv1.EnsureContainerRequest, _ ...grpc.CallOption) (*agentv1.EnsureContainerResponse, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	reply := rawWorkerReply()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveRaw(nc, reply)
		}
	}()
	a.mu.Lock()
	a.lns = append(a.lns, ln)
	id := "r" + strconv.Itoa(len(a.lns))
	a.mu.Unlock()
	addr := ln.Addr().(*net.TCPAddr)
	a.fakeAgent.mu.Lock()
	a.fakeAgent.meta[id] = &agentv1.ContainerSummary{Id: id, Function: in.Function, Project: in.Project, Status: "running",
		CreatedAtMs: time.Now().UnixMilli(), Ip: addr.IP.String(), Port: int32(addr.Port)}
	a.fakeAgent.mu.Unlock()
	return &agentv1.EnsureContainerResponse{Worker: &agentv1.WorkerInfo{Id: id, Name: "esb-" + id, Ip: addr.IP.String(), Port: int32(addr.Port), Function: in.Function}}, nil
}

func (a *rawAgent) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ln := range a.lns {
		ln.Close()
	}
}

// benchGateway starts a gateway with one warm raw worker behind GET /hello.
func benchGateway(b *testing.B, accessLog io.Writer, flush time.Duration, stdServer bool) (*Gateway, *rawAgent, string) {
	b.Helper()
	ag := &rawAgent{fakeAgent: newFakeAgent()}
	dir := b.TempDir()
	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"echo": {Image: "echo:latest", Timeout: 30, Scaling: manifest.Scaling{MaxCapacity: 1, MinCapacity: 1}},
	}}
	rt := manifest.Routing{Routes: []manifest.Route{{Path: "/hello", Method: "get", Function: "echo"}}}
	fp, rp := filepath.Join(dir, "functions.yml"), filepath.Join(dir, "routing.yml")
	if err := manifest.Save(fp, fns); err != nil {
		b.Fatal(err)
	}
	if err := manifest.Save(rp, rt); err != nil {
		b.Fatal(err)
	}
	g, err := New(Config{
		FunctionsFile: fp, RoutingFile: rp, HTTPAddr: "127.0.0.1:0", Project: "bench",
		APIKey: "k", JWTSecret: "0123456789abcdef0123456789abcdef", AuthUser: "u", AuthPass: "p",
		WatchInterval: -1, AccessLog: accessLog != nil, AccessLogWriter: accessLog, AccessLogFlush: flush,
		Logger: jsonLogger(io.Discard), StdHTTPServer: stdServer,
	}, ag)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		g.Shutdown(context.Background())
		ag.close()
	})
	for deadline := time.Now().Add(5 * time.Second); ag.live() < 1; {
		if time.Now().After(deadline) {
			b.Fatal("no warm worker")
		}
		time.Sleep(5 * time.Millisecond)
	}
	token, err := g.auth.Issue("u", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return g, ag, token
}

// benchWriter is a ResponseWriter that keeps nothing but the status.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *benchWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.n += len(b)
	return len(b), nil
}

// rawClient sends one request over a keep-alive connection and reads the
// answer without allocating.
type rawClient struct {
	nc  net.Conn
	br  *bufio.Reader
	req []byte
}

func dialRaw(b *testing.B, addr string, req []byte) *rawClient {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return &rawClient{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), req: req}
}

// do returns the status code and body length.
func (c *rawClient) do() (status, n int, err error) {
	if _, err := c.nc.Write(c.req); err != nil {
		return 0, 0, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	if len(line) >= 12 {
		status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	}
	n = -1
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, 0, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("content-length:")) {
			n = 0
			for _, ch := range bytes.TrimSpace(line[15:]) {
				n = n*10 + int(ch-'0')
			}
		}
	}
	if n < 0 {
		return status, 0, io.ErrUnexpectedEOF // the gateway always frames its answers
	}
	_, err = c.br.Discard(n)
	return status, n, err
}

func BenchmarkHandler(b *testing.B) {
	// The access log goes to a pipe drained by another goroutine, as the
	// gateway's stderr is read by its supervisor.
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer pw.Close()
	go io.Copy(io.Discard, pr)
	for _, v := range []struct {
		name  string
		log   io.Writer
		flush time.Duration
	}{{"rest", nil, 0}, {"rest+accesslog-each-line", pw, -1}, {"rest+accesslog-batched", pw, 0}} {
		b.Run("handler/"+v.name, func(b *testing.B) {
			g, _, token := benchGateway(b, v.log, v.flush, false)
			r, err := http.NewRequest("GET", "http://"+g.Addr("http").String()+"/hello", nil)
			if err != nil {
				b.Fatal(err)
			}
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("User-Agent", "Go-http-client/1.1")
			r.Header.Set("Accept-Encoding", "gzip")
			r.RemoteAddr = "127.0.0.1:40000"
			r.Body = http.NoBody
			w := &benchWriter{h: http.Header{}}
			loopCPU(b, func() {
				clear(w.h)
				w.status, w.n = 0, 0
				g.ServeHTTP(w, r)
				if w.status != 200 {
					b.Fatalf("status %d", w.status)
				}
			})
		})
	}
	b.Run("server/rest", func(b *testing.B) {
		g, ag, token := benchGateway(b, nil, 0, false)
		gs, _, tokenStd := benchGateway(b, nil, 0, true)
		request := func(addr, token string) []byte {
			return []byte("GET /hello HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: Go-http-client/1.1\r\nAuthorization: Bearer " + token + "\r\nAccept-Encoding: gzip\r\n\r\n")
		}
		gw := dialRaw(b, g.Addr("http").String(), request(g.Addr("http").String(), token))
		std := dialRaw(b, gs.Addr("http").String(), request(gs.Addr("http").String(), tokenStd))
		ag.fakeAgent.mu.Lock()
		var m *agentv1.ContainerSummary
		for _, c := range ag.fakeAgent.meta {
			m = c
		}
		ag.fakeAgent.mu.Unlock()
		waddr := net.JoinHostPort(m.Ip, strconv.Itoa(int(m.Port)))
		payload := `{"resource":"/hello","path":"/hello","httpMethod":"GET","headers":{"Accept-Encoding":"gzip"}}`
		direct := dialRaw(b, waddr, []byte("POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: "+waddr+
			"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(payload))+"\r\n\r\n"+payload))
		for _, c := range []struct {
			name string
			c    *rawClient
		}{{"direct", direct}, {"gateway-nethttp", std}, {"gateway", gw}} {
			b.Run(c.name, func(b *testing.B) {
				loopCPU(b, func() {
					st, _, err := c.c.do()
					if err != nil || st != 200 {
						b.Fatalf("status %d: %v", st, err)
					}
				})
			})
		}
	})
}

// BenchmarkServerFloor compares net/http's server answering a canned
// response with a raw loopback server doing the same: the cost of the HTTP
// server itself.
func BenchmarkServerFloor(b *testing.B) {
	body := []byte(`{"hello":"world"}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Header()["Content-Length"] = []string{"17"}
		w.Write(body)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer rl.Close()
	go func() {
		for {
			nc, err := rl.Accept()
			if err != nil {
				return
			}
			go serveRaw(nc, []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"+string(body)))
		}
	}()
	for _, c := range []struct{ name, addr string }{{"raw", rl.Addr().String()}, {"net-http", ln.Addr().String()}} {
		b.Run(c.name, func(b *testing.B) {
			cl := dialRaw(b, c.addr, []byte("GET /hello HTTP/1.1\r\nHost: "+c.addr+"\r\nUser-Agent: Go-http-client/1.1\r\n\r\n"))
			loopCPU(b, func() {
				if st, _, err := cl.do(); err != nil || st != 200 {
					b.Fatalf("status %d: %v", st, err)
				}
			})
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs f b.N times and reports the process's CPU time per op
// (cpu-ns/op): on a busy machine a steadier figure than wall time.
func loopCPU(b *testing.B, f func()) {
	b.ReportAllocs()
	c0 := cpuTime()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(max(n, 1)), "cpu-ns/op")
}
