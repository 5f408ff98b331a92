package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/bench/harness"
	"github.com/edgeserverlessbox/esb/bench/loadgen"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// helloEvent is the REST API event of GET /hello, for invoking a worker directly.
var helloEvent = []byte(`{"resource":"/hello","path":"/hello","httpMethod":"GET","headers":{"Accept":"*/*"},` +
	`"multiValueHeaders":{"Accept":["*/*"]},"queryStringParameters":null,"multiValueQueryStringParameters":null,` +
	`"pathParameters":null,"stageVariables":null,"requestContext":{"resourcePath":"/hello","httpMethod":"GET","path":"/Prod/hello","stage":"Prod","requestId":"bench"},` +
	`"body":null,"isBase64Encoded":false}`)

// withStack starts hello-go (or another example) in a mode, runs fn, and stops it.
func withStack(ctx context.Context, env *harness.Env, example, mode string, extra []string, fn func(*stack) error) error {
	s, err := newStack(ctx, env, example, mode, extra...)
	if err != nil {
		return err
	}
	if strings.HasPrefix(example, "hello-python") {
		if err := s.baseFor(ctx, "python3.12"); err != nil {
			return err
		}
	}
	defer s.down(context.WithoutCancel(ctx))
	if _, err := s.up(ctx); err != nil {
		return err
	}
	return fn(s)
}

// runWarmInvoke compares one warm invoke through the gateway with the same
// invoke sent straight to the worker's esb-rie and with the loopback floor.
// Two more variants in the same run split the gateway's added time: the
// worker invoked directly with the event the gateway builds (what the larger,
// AWS-complete event costs the function), and a bare Go proxy (esb's HTTP/1.1
// server and worker client, no gateway logic) forwarding that event (what any
// extra hop in front of the worker costs on this machine). The variants take
// turns within every repetition, so each sees the same machine load.
func runWarmInvoke(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	o := &harness.Outcome{Notes: "hello-go (provided.al2023, aws-lambda-go) in docker mode, one connection, HTTP/1.1 keep-alive. " +
		"Gateway: `GET /hello` with a Bearer IdToken on the plain HTTP port (auth, routing, REST event, pool, response mapping). " +
		"Direct: a small REST event POSTed to the worker's esb-rie. Floor: a Go echo server on loopback. " +
		"Direct, gateway's event: the ~2.5 KB event the gateway builds for that request (every field API Gateway sends, the token in headers and multiValueHeaders, the claims) POSTed to the worker. " +
		"Bare Go proxy: a loopback HTTP/1.1 server that forwards that event to the worker with the gateway's worker client and nothing else. " +
		"Each repetition measures every variant once, in turn, so all see the same machine load."}
	const (
		iDirect  = 1
		iGateway = 2
		iGwEvent = 3
		iProxy   = 4
	)
	err := withStack(ctx, env, "hello-go", "docker", nil, func(s *stack) error {
		// One client (one keep-alive connection) per variant.
		var clients []*http.Client
		defer func() {
			for _, c := range clients {
				c.CloseIdleConnections()
			}
		}()
		client := func() *http.Client {
			c := httpClient(1, false)
			clients = append(clients, c)
			return c
		}
		route := s.routeOp(client(), "/hello")
		if err := route(ctx, 0); err != nil { // make one worker warm
			return err
		}
		ws, err := s.workers(ctx)
		if err != nil || len(ws) == 0 {
			return fmt.Errorf("no warm worker after the first request (%v)", err)
		}
		addr := fmt.Sprintf("%s:%d", ws[0].Ip, ws[0].Port)
		cDirect, cGwEvent := client(), client()
		direct := func(ctx context.Context, _ int) error { return invokeWorker(ctx, cDirect, addr, helloEvent) }
		event, err := s.gatewayEvent("/hello")
		if err != nil {
			return err
		}
		directGw := func(ctx context.Context, _ int) error { return invokeWorker(ctx, cGwEvent, addr, event) }
		proxyURL, stopProxy, err := bareProxy(addr, event)
		if err != nil {
			return err
		}
		defer stopProxy()
		floorURL, stop, err := echoServer()
		if err != nil {
			return err
		}
		defer stop()
		variants := []struct {
			name string
			op   loadgen.Op
			base bool
		}{
			{"loopback floor", postOp(client(), floorURL, string(helloEvent), nil), true},
			{"direct to esb-rie", direct, false},
			{"through the gateway", route, false},
			{"direct, gateway's event", directGw, false},
			{"bare Go proxy, gateway's event", getOp(client(), proxyURL), false},
		}
		// Every repetition measures each variant once, in turn, so that all
		// see the same machine load. (Alternating request by request would
		// put several connections on the worker at once; esb-rie may then
		// refuse an invoke that arrives on another connection just after an
		// answer as busy.)
		lo := loadgen.Options{Concurrency: 1, Duration: env.Duration, Warmup: env.Duration / 5}
		once := *env
		once.Repeat = 1
		samples := make([][]harness.Sample, len(variants))
		for range env.Repeat {
			for i, v := range variants {
				sm, err := harness.Measure(ctx, &once, v.op, lo)
				if err != nil {
					return fmt.Errorf("%s: %w", v.name, err)
				}
				samples[i] = append(samples[i], sm...)
			}
		}
		pt := harness.Point{Load: "1 conn"}
		for i, v := range variants {
			pt.Variants = append(pt.Variants, harness.Variant{Name: v.name, Baseline: v.base, Samples: samples[i]})
		}
		o.Points = append(o.Points, pt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p50 := func(i int) time.Duration { return harness.Summarise(o.Points[0].Variants[i].Samples).P50 }
	// Like for like, the function must get the same bytes both ways: the
	// gateway's added time is measured against the worker invoked directly
	// with the event the gateway sends.
	o.Notes += fmt.Sprintf(" The gateway adds %s at p50 over the same event sent straight to the worker (target: under 250 µs): one Go HTTP hop in front of the worker %s (bare proxy − direct, gateway's event) "+
		"and the gateway's own work %s (gateway − bare proxy). Against the small direct event it adds %s, of which the function's parsing of the larger, AWS-complete event is %s (direct, gateway's event − direct).",
		fmtMicros(p50(iGateway)-p50(iGwEvent)), fmtMicros(p50(iProxy)-p50(iGwEvent)), fmtMicros(p50(iGateway)-p50(iProxy)),
		fmtMicros(p50(iGateway)-p50(iDirect)), fmtMicros(p50(iGwEvent)-p50(iDirect)))
	return o, nil
}

// getOp returns a load op that GETs url and expects a 200 answer.
func getOp(c *http.Client, url string) loadgen.Op {
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil
	}
}

func fmtMicros(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

// runThroughput drives the gateway with 1–128 connections. The baseline is
// the same load sent straight to the warm workers' esb-rie through an ideal
// client-side pool (a free list of worker addresses, no network hop), so the
// ratio is what the gateway costs; the loopback floor is shown for scale.
func runThroughput(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	o := &harness.Outcome{Plot: true, Notes: "hello-go in docker mode, closed loop. Gateway: `GET /hello` (the pool scales to the default 10 workers). " +
		"Direct (baseline): the same REST event POSTed to the warm workers' esb-rie, each request taking a free worker from a client-side list, as a perfect pool would. " +
		"Floor: a loopback Go echo server. The load generator runs on the same 2 cores as everything it measures."}
	err := withStack(ctx, env, "hello-go", "docker", nil, func(s *stack) error {
		floorURL, stop, err := echoServer()
		if err != nil {
			return err
		}
		defer stop()
		for _, c := range loads(env) {
			client := httpClient(c, false)
			pt := harness.Point{Load: fmt.Sprintf("%d conn", c)}
			lo := loadgen.Options{Concurrency: c, Duration: env.Duration, Warmup: env.Duration / 2}
			// Bring the pool up to this concurrency first (cold starts are another scenario).
			if _, err := loadgen.Run(ctx, s.routeOp(client, "/hello"), loadgen.Options{Concurrency: c, Requests: 2 * c, Duration: time.Minute}); err != nil {
				return err
			}
			direct, err := s.directPoolOp(ctx, client)
			if err != nil {
				return err
			}
			for _, v := range []struct {
				name string
				op   loadgen.Op
				base bool
			}{
				{"direct to esb-rie", direct, true},
				{"gateway", s.routeOp(client, "/hello"), false},
				{"loopback floor", postOp(client, floorURL, string(helloEvent), nil), false},
			} {
				sm, err := harness.Measure(ctx, env, v.op, lo)
				if err != nil {
					return fmt.Errorf("%s at %d: %w", v.name, c, err)
				}
				pt.Variants = append(pt.Variants, harness.Variant{Name: v.name, Baseline: v.base, Samples: sm})
			}
			client.CloseIdleConnections()
			o.Points = append(o.Points, pt)
		}
		return nil
	})
	return o, err
}

// directPoolOp invokes the project's running workers directly: each request
// takes a free worker address and gives it back, so no worker ever sees two
// invokes at once.
func (s *stack) directPoolOp(ctx context.Context, c *http.Client) (loadgen.Op, error) {
	ws, err := s.workers(ctx)
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, errors.New("no running worker to invoke directly")
	}
	free := make(chan string, len(ws))
	for _, w := range ws {
		free <- fmt.Sprintf("%s:%d", w.Ip, w.Port)
	}
	return func(ctx context.Context, _ int) error {
		var addr string
		select {
		case addr = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { free <- addr }()
		return invokeWorker(ctx, c, addr, helloEvent)
	}, nil
}

// runColdStart measures a worker start through the agent (EnsureContainer, then
// the first invoke answered) against a bare `docker run` / `ctr run` of the same
// image to its first answer, for Go and Python in both modes.
func runColdStart(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	o := &harness.Outcome{Notes: "Each round: esb's agent `EnsureContainer` (network, limits, read-only root, readiness) then the first invoke, timed to its answer; " +
		"then the bare CLI with the same image, timed from exec to the first answer of the same invoke. " +
		"`docker run -d` uses the same bridge network; `ctr run -d --net-host` sets up no network at all, so it does less than the agent. Rounds interleave; the first is dropped."}
	rounds := 20 // issue 4: the median of 20
	if env.Smoke {
		rounds = 2
	}
	for _, mode := range []string{"docker", "containerd"} {
		for _, ex := range []string{"hello-go", "hello-python"} {
			err := withStack(ctx, env, ex, mode, nil, func(s *stack) error {
				pt, err := coldPoint(ctx, s, rounds)
				if err != nil {
					return err
				}
				pt.Load = fmt.Sprintf("%s, %s", ex, mode)
				o.Points = append(o.Points, *pt)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s in %s mode: %w", ex, mode, err)
			}
		}
	}
	return o, nil
}

func onlyFunction(s *stack) (string, manifest.Function, error) {
	for name, f := range s.fns.Functions {
		return name, f, nil
	}
	return "", manifest.Function{}, errors.New("functions.yml lists no function")
}

func coldPoint(ctx context.Context, s *stack, rounds int) (*harness.Point, error) {
	name, fn, err := onlyFunction(s)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var esbSamples, bareSamples []harness.Sample
	for i := range rounds + 1 {
		// esb: ensure, first answer.
		t0 := time.Now()
		resp, err := s.agent.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
			Function: name, Image: fn.Image, MemoryMb: int32(fn.MemorySize), TimeoutSeconds: int32(fn.Timeout),
			Project: s.project + "-cold",
			Env: map[string]string{
				"AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.MemorySize),
				"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(fn.Timeout), "ESB_LOG_FORMAT": "json",
			},
		})
		if err != nil {
			return nil, fmt.Errorf("ensure: %w", err)
		}
		w := resp.Worker
		err = invokeWorker(ctx, c, fmt.Sprintf("%s:%d", w.Ip, w.Port), helloEvent)
		esbD := time.Since(t0)
		if _, derr := s.agent.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: w.Id}); derr != nil && err == nil {
			err = derr
		}
		if err != nil {
			return nil, fmt.Errorf("first invoke: %w", err)
		}
		bareD, err := bareRun(ctx, s, c, fn, i)
		if err != nil {
			return nil, fmt.Errorf("bare %s run: %w", s.mode, err)
		}
		if i == 0 {
			continue // warm-up round
		}
		esbSamples = append(esbSamples, harness.Sample{P50: esbD, P99: esbD})
		bareSamples = append(bareSamples, harness.Sample{P50: bareD, P99: bareD})
	}
	bare := "docker run"
	if s.mode == "containerd" {
		bare = "ctr run"
	}
	return &harness.Point{Variants: []harness.Variant{
		{Name: bare, Baseline: true, Samples: collapse(bareSamples)},
		{Name: "esb agent", Samples: collapse(esbSamples)},
	}}, nil
}

// collapse turns per-round single measurements into one sample per round with
// the distribution's p50/p99 over the rounds, so the report's median and p99 are
// over rounds.
func collapse(rounds []harness.Sample) []harness.Sample {
	ds := make([]time.Duration, len(rounds))
	for i, r := range rounds {
		ds[i] = r.P50
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(f float64) time.Duration { return ds[min(len(ds)-1, int(f*float64(len(ds))))] }
	out := make([]harness.Sample, len(rounds))
	for i, r := range rounds {
		out[i] = harness.Sample{P50: r.P50, P99: q(0.99)}
	}
	return out
}

// bareRun starts the function's image with the engine's own CLI and times it to
// the first answer of an invoke.
func bareRun(ctx context.Context, s *stack, c *http.Client, fn manifest.Function, round int) (time.Duration, error) {
	id := fmt.Sprintf("esb-bench-bare-%d-%d", os.Getpid(), round)
	var addr string
	t0 := time.Now()
	switch s.mode {
	case "docker":
		out, err := exec.CommandContext(ctx, "docker", "-H", s.eng.dockerHost, "run", "-d", "--name", id,
			"--network", "esb-bench", "--memory", "128m", fn.Image).CombinedOutput()
		defer exec.Command("docker", "-H", s.eng.dockerHost, "rm", "-f", id).Run()
		if err != nil {
			return 0, fmt.Errorf("docker run: %v: %s", err, out)
		}
		ip, err := exec.CommandContext(ctx, "docker", "-H", s.eng.dockerHost, "inspect", "-f",
			"{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id).Output()
		if err != nil {
			return 0, fmt.Errorf("docker inspect: %v", err)
		}
		addr = strings.TrimSpace(string(ip)) + ":8080"
	default:
		port := 25900 + round%50
		addr = fmt.Sprintf("127.0.0.1:%d", port)
		args := []string{"--address", s.eng.containerd, "-n", "esb-bench", "run", "-d", "--net-host",
			"--memory-limit", strconv.Itoa(fn.MemorySize << 20), "docker.io/library/" + fn.Image, id,
			"/usr/local/bin/esb-rie", "--listen", addr}
		if strings.HasPrefix(fn.Runtime, "provided") {
			args = append(args, "/var/task/bootstrap")
		} else {
			args = append(args, "--runtime", fn.Runtime, fn.Handler)
		}
		out, err := exec.CommandContext(ctx, "ctr", args...).CombinedOutput()
		defer func() {
			exec.Command("ctr", "--address", s.eng.containerd, "-n", "esb-bench", "tasks", "kill", "-s", "SIGKILL", id).Run()
			for range 50 {
				if exec.Command("ctr", "--address", s.eng.containerd, "-n", "esb-bench", "containers", "rm", id).Run() == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		if err != nil {
			return 0, fmt.Errorf("ctr run: %v: %s", err, out)
		}
	}
	for {
		err := invokeWorker(ctx, c, addr, helloEvent)
		if err == nil {
			return time.Since(t0), nil
		}
		if time.Since(t0) > 30*time.Second {
			return 0, fmt.Errorf("no answer from %s within 30s: %w", addr, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runScaleOut serves N concurrent requests from zero workers, against one
// request from zero (the baseline), in containerd mode.
func runScaleOut(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	const n = 8
	o := &harness.Outcome{Notes: fmt.Sprintf("hello-go in containerd mode, scaled to zero before each round (idle timeout 1 s). "+
		"Baseline: one request from zero (a cold start through the gateway). Then %d concurrent requests from zero: each needs its own new worker; "+
		"p50/p99 are over the %d requests, req/s is %d over the time to the last answer.", n, n, n)}
	rounds := 5
	if env.Smoke {
		rounds = 1
	}
	extra := []string{"GATEWAY_IDLE_TIMEOUT_SECONDS=1", "HEARTBEAT_INTERVAL=0.5"}
	err := withStack(ctx, env, "hello-go", "containerd", extra, func(s *stack) error {
		var one, many []harness.Sample
		for range rounds {
			for _, k := range []int{1, n} {
				if err := s.waitForZero(ctx, 30*time.Second); err != nil {
					return err
				}
				sm, err := burst(ctx, s, k)
				if err != nil {
					return err
				}
				if k == 1 {
					one = append(one, sm)
				} else {
					many = append(many, sm)
				}
			}
		}
		o.Points = append(o.Points, harness.Point{Load: fmt.Sprintf("from zero, %d requests", n), Variants: []harness.Variant{
			{Name: "1 request from zero", Baseline: true, Samples: one},
			{Name: fmt.Sprintf("%d concurrent from zero", n), Samples: many},
		}})
		return nil
	})
	return o, err
}

func burst(ctx context.Context, s *stack, k int) (harness.Sample, error) {
	c := httpClient(k, false)
	defer c.CloseIdleConnections()
	op := s.routeOp(c, "/hello")
	var h loadgen.Histogram
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	t0 := time.Now()
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := time.Now()
			err := op(ctx, 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			h.Record(time.Since(st))
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if firstErr != nil {
		return harness.Sample{}, firstErr
	}
	return harness.Sample{P50: h.Quantile(0.5), P99: h.Quantile(1), Throughput: float64(k) / elapsed.Seconds(), Requests: uint64(k)}, nil
}

// runUp times `esb up --wait` for hello-go with its images built, against one
// bare `docker run` of the same image to its first answer.
func runUp(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	rounds := env.Repeat
	s, err := newStack(ctx, env, "hello-go", "docker")
	if err != nil {
		return nil, err
	}
	defer s.down(context.WithoutCancel(ctx))
	if _, err := s.up(ctx); err != nil { // builds the images
		return nil, err
	}
	_, fn, err := onlyFunction(s)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var ups, bares []harness.Sample
	for i := range rounds {
		s.down(ctx)
		d, err := s.up(ctx)
		if err != nil {
			return nil, err
		}
		ups = append(ups, harness.Sample{Value: float64(d) / 1e6})
		b, err := bareRun(ctx, s, c, fn, i)
		if err != nil {
			return nil, err
		}
		bares = append(bares, harness.Sample{Value: float64(b) / 1e6})
	}
	return &harness.Outcome{
		Notes: "From nothing running to every service healthy and the gateway ready (images already built, so `esb up` only checks them). " +
			"Baseline: one bare `docker run` of the hello-go image to its first answer, in the same run.",
		Points: []harness.Point{{Load: "hello-go, docker mode", Variants: []harness.Variant{
			{Name: "docker run → first answer", Baseline: true, Unit: "ms", Samples: bares},
			{Name: "esb up --wait", Unit: "ms", Samples: ups},
		}}},
	}, nil
}

// runIdleMemory measures the control plane's memory once the functions scaled
// to zero, against the floor of a minimal idle Go HTTP server.
func runIdleMemory(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	floorRSS, floorPSS, err := floorMemory(ctx, env)
	if err != nil {
		return nil, err
	}
	o := &harness.Outcome{Notes: "hello-go in docker mode after one request and scale-to-zero (idle timeout 1 s), then 10 s idle, then one reading per repetition 2 s apart (median shown): a daemon hands back its freed heap and the pages a burst touched after 5 s without work (internal/memtrim). " +
		"The daemons are one binary, so their shared pages count once in PSS (the honest total); RSS counts them in every process. " +
		"Baseline: a minimal Go HTTP server, idle — the least a Go daemon costs."}
	extra := []string{"GATEWAY_IDLE_TIMEOUT_SECONDS=1", "HEARTBEAT_INTERVAL=0.5"}
	err = withStack(ctx, env, "hello-go", "docker", extra, func(s *stack) error {
		c := httpClient(1, false)
		if err := s.routeOp(c, "/hello")(ctx, 0); err != nil {
			return err
		}
		c.CloseIdleConnections()
		if err := s.waitForZero(ctx, 30*time.Second); err != nil {
			return err
		}
		time.Sleep(10 * time.Second)
		pids, err := s.servicePIDs(ctx)
		if err != nil {
			return err
		}
		// One reading per repetition, 2 s apart, from 10 s idle on: the
		// median of several is steadier than one look at a moment when a
		// daemon may be between its idle trims.
		names := []string{"gateway", "agent", "dynamodb", "s3"}
		rssOf, pssOf := map[string][]harness.Sample{}, map[string][]harness.Sample{}
		var totRSS, totPSS []harness.Sample
		for r := range max(env.Repeat, 1) {
			if r > 0 {
				time.Sleep(2 * time.Second)
			}
			var sumRSS, sumPSS float64
			for _, name := range names {
				pid, ok := pids[name]
				if !ok {
					return fmt.Errorf("no pid for %s", name)
				}
				rss, pss, err := memory(pid)
				if err != nil {
					return fmt.Errorf("memory of %s: %w", name, err)
				}
				sumRSS += rss
				sumPSS += pss
				rssOf[name] = append(rssOf[name], harness.Sample{Value: rss})
				pssOf[name] = append(pssOf[name], harness.Sample{Value: pss})
			}
			totRSS = append(totRSS, harness.Sample{Value: sumRSS})
			totPSS = append(totPSS, harness.Sample{Value: sumPSS})
		}
		rssPt := harness.Point{Load: "RSS", Variants: []harness.Variant{{Name: "minimal Go HTTP server", Baseline: true, Unit: "MiB", Samples: []harness.Sample{{Value: floorRSS}}}}}
		pssPt := harness.Point{Load: "PSS", Variants: []harness.Variant{{Name: "minimal Go HTTP server", Baseline: true, Unit: "MiB", Samples: []harness.Sample{{Value: floorPSS}}}}}
		for _, name := range names {
			rssPt.Variants = append(rssPt.Variants, harness.Variant{Name: name, Unit: "MiB", Samples: rssOf[name]})
			pssPt.Variants = append(pssPt.Variants, harness.Variant{Name: name, Unit: "MiB", Samples: pssOf[name]})
		}
		rssPt.Variants = append(rssPt.Variants, harness.Variant{Name: "total (4 daemons)", Unit: "MiB", Samples: totRSS})
		pssPt.Variants = append(pssPt.Variants, harness.Variant{Name: "total (4 daemons)", Unit: "MiB", Samples: totPSS})
		if pid, ok := pids["supervisor"]; ok {
			if _, pss, err := memory(pid); err == nil {
				o.Notes += fmt.Sprintf(" The supervisor (`esb up`'s own process) adds %.1f MiB PSS.", pss)
			}
		}
		o.Points = append(o.Points, pssPt, rssPt)
		return nil
	})
	return o, err
}

// floorMemory builds and starts a minimal Go HTTP server and reads its memory.
func floorMemory(ctx context.Context, env *harness.Env) (rss, pss float64, err error) {
	dir := filepath.Join(env.WorkDir, "floor")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	src := "package main\n\nimport \"net/http\"\n\nfunc main() {\n\thttp.HandleFunc(\"/\", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(\"ok\")) })\n\thttp.ListenAndServe(\"127.0.0.1:0\", nil)\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module floor\n\ngo 1.26\n"), 0o644); err != nil {
		return 0, 0, err
	}
	bin := filepath.Join(dir, "floor")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Dir, build.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("build floor server: %v: %s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin)
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(2 * time.Second)
	return memory(cmd.Process.Pid)
}
