package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/gateway/worker"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func BenchmarkZZProfile(b *testing.B) {
	const conns = 32
	ag := newFakeAgent()
	ag.handle("echo:latest", benchHandler)
	dir := b.TempDir()
	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"echo": {Image: "echo:latest", Timeout: 30, Scaling: manifest.Scaling{MaxCapacity: conns, MinCapacity: conns}},
	}}
	rt := manifest.Routing{Routes: []manifest.Route{{Path: "/hello", Method: "get", Function: "echo"}}}
	fp, rp := filepath.Join(dir, "functions.yml"), filepath.Join(dir, "routing.yml")
	manifest.Save(fp, fns)
	manifest.Save(rp, rt)
	g, err := New(Config{
		FunctionsFile: fp, RoutingFile: rp, HTTPAddr: "127.0.0.1:0", Project: "bench",
		APIKey: "k", JWTSecret: "0123456789abcdef0123456789abcdef", AuthUser: "u", AuthPass: "p",
		WatchInterval: -1, AccessLog: true, AccessLogWriter: io.Discard, Logger: jsonLogger(io.Discard),
	}, ag)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() {
		g.Shutdown(context.Background())
		ag.closeAll()
	}()
	for deadline := time.Now().Add(5 * time.Second); ag.live() < conns && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	ag.mu.Lock()
	var workerURLs []string
	for _, w := range ag.workers {
		workerURLs = append(workerURLs, w.Server.URL+"/2015-03-31/functions/function/invocations")
	}
	ag.mu.Unlock()
	if len(workerURLs) < conns {
		b.Fatalf("only %d warm workers", len(workerURLs))
	}
	token, _ := g.auth.Issue("u", time.Now())
	base := "http://" + g.Addr("http").String()
	payload := []byte(`{"hello":"world"}`)

	direct := func(c int) (*http.Request, error) {
		r, err := http.NewRequest("POST", workerURLs[c%len(workerURLs)], bytes.NewReader(payload))
		r.Header.Set("X-Amzn-RequestId", "3f0e4a0b-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
		r.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
		return r, err
	}
	invoke := func(int) (*http.Request, error) {
		return http.NewRequest("POST", base+"/2015-03-31/functions/echo/invocations", bytes.NewReader(payload))
	}
	rest := func(int) (*http.Request, error) {
		r, err := http.NewRequest("GET", base+"/hello", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return r, err
	}
	// The floor of any HTTP gateway on this machine: a bare proxy that forwards
	// the body to a free worker with the same worker client and copies the
	// answer back, with no routing, ids, auth, events, metrics or logs.
	free := make(chan string, len(workerURLs))
	for _, u := range workerURLs {
		free <- u
	}
	wc := worker.NewClient()
	floorSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u := <-free
		res, err := wc.Invoke(r.Context(), &worker.Invocation{URL: u, Payload: body})
		free <- u
		if err != nil {
			w.WriteHeader(502)
			return
		}
		w.Write(res.Body)
		res.Release()
	}))
	defer floorSrv.Close()
	floor := func(int) (*http.Request, error) {
		return http.NewRequest("POST", floorSrv.URL+"/", bytes.NewReader(payload))
	}

	n := max(b.N, 200)
	b.ResetTimer()

	which := os.Getenv("ZZ_PHASE")
	tg := map[string]func(int) (*http.Request, error){"invoke": invoke, "rest": rest, "floor": floor, "direct": direct}[which]
	load(n, conns, tg)
}
