package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/gateway/worker"
	"github.com/edgeserverlessbox/esb/internal/gateway/worker/workertest"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// The warm-invoke benchmark compares, in one run, a request sent straight to
// a worker (the in-process fake esb-rie) with the same request through the
// gateway — by the Lambda Invoke API and by a REST API route with a bearer
// token. Each phase sends b.N requests; run it with a fixed count, e.g.
//
//	go test ./internal/gateway -run XXX -bench WarmInvoke -benchtime 20000x
//
// Reported: p50/p99 latency with 1 connection, requests/s with 32
// connections, and the gateway's ratios to the direct baseline.

var benchReply = []byte(`{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"hello\":\"world\"}"}`)

func benchHandler(*workertest.Call) workertest.Reply { return workertest.Reply{Payload: benchReply} }

type loadResult struct {
	p50, p99 time.Duration
	rps      float64
	errors   int64
	firstErr string
}

// load sends n requests over conns connections; target(i) builds the request
// of connection i.
func load(n, conns int, target func(conn int) (*http.Request, error)) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	lat := make([][]time.Duration, conns)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, n/conns+1)
			for next.Add(1) <= int64(n) {
				req, _ := target(c)
				t0 := time.Now()
				resp, err := cl.Do(req)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %.200s", resp.StatusCode, body))
				}
				l = append(l, time.Since(t0))
			}
			lat[c] = l
		}()
	}
	wg.Wait()
	el := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := loadResult{rps: float64(n) / el.Seconds(), errors: errs.Load()}
	if e, ok := firstErr.Load().(string); ok {
		r.firstErr = e
	}
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}

func BenchmarkWarmInvoke(b *testing.B) {
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
	// Warm the connections and code paths.
	load(2000, conns, direct)
	load(2000, conns, invoke)
	load(2000, conns, rest)
	load(2000, conns, floor)
	b.ResetTimer()

	runPhases(b, n, conns, []string{"direct", "floor", "invoke", "rest"},
		[]func(int) (*http.Request, error){direct, floor, invoke, rest})
	b.ReportMetric(0, "ns/op")
}

// runPhases measures each target n times with 1 connection and with conns
// connections, in interleaved rounds, and reports medians; the first target
// is the baseline of the added latency and of the ratios.
func runPhases(b *testing.B, n, conns int, names []string, targets []func(int) (*http.Request, error)) {
	runPhasesWithBaselines(b, n, conns, names, targets, make([]int, len(targets)))
}

// runPhasesWithBaselines is runPhases where target i is compared with target
// baseline[i] (a target that is its own baseline reports no ratio).
func runPhasesWithBaselines(b *testing.B, n, conns int, names []string, targets []func(int) (*http.Request, error), baseline []int) {
	// Phases are interleaved and repeated; each figure is the median of the
	// rounds, so a burst of load from elsewhere on the machine skews one round
	// of every phase rather than one phase.
	const rounds = 3
	one := make([][]loadResult, len(targets))
	many := make([][]loadResult, len(targets))
	for range rounds {
		for i, tg := range targets {
			one[i] = append(one[i], load(n, 1, tg))
		}
		for i, tg := range targets {
			many[i] = append(many[i], load(n, conns, tg))
		}
	}
	b.StopTimer()
	median := func(rs []loadResult, f func(loadResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			if r.errors > 0 {
				b.Fatalf("%d failed requests, first: %s", r.errors, r.firstErr)
			}
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	p50 := func(r loadResult) float64 { return us(r.p50) }
	p99 := func(r loadResult) float64 { return us(r.p99) }
	rps := func(r loadResult) float64 { return r.rps }
	for i, name := range names {
		b.ReportMetric(median(one[i], p50), name+"-p50-µs")
		b.ReportMetric(median(one[i], p99), name+"-p99-µs")
		b.ReportMetric(median(many[i], rps), name+"-32c-req/s")
		if j := baseline[i]; j != i {
			added := make([]loadResult, rounds)
			ratio := make([]loadResult, rounds)
			for r := range rounds {
				added[r] = loadResult{p50: one[i][r].p50 - one[j][r].p50}
				ratio[r] = loadResult{rps: many[i][r].rps / many[j][r].rps}
			}
			b.ReportMetric(median(added, p50), name+"-added-p50-µs")
			b.ReportMetric(median(ratio, rps), name+"/"+names[j]+"-rps")
		}
	}
}
