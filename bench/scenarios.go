package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeserverlessbox/esb/bench/harness"
	"github.com/edgeserverlessbox/esb/bench/loadgen"
)

// allScenarios lists every scenario in report order.
func allScenarios() []harness.Scenario {
	return []harness.Scenario{
		{
			Name:        "loopback-http",
			Description: "The floor every HTTP scenario stands on: a trivial Go echo server on loopback, HTTP/1.1 keep-alive (baseline) vs. HTTP/2 cleartext, closed loop at 1–128 connections.",
			Run:         runLoopbackHTTP,
		},
		{
			Name:        "rie-overhead",
			Description: "esb-rie on its own (host process, loopback) running an aws-lambda-go echo function vs. the loopback echo floor: the per-invoke overhead of the Lambda Runtime API path.",
			Run:         runRIEOverhead,
		},
		{
			Name:        "warm-invoke",
			Description: "One warm invoke of an aws-lambda-go function: through the gateway vs. straight to the worker's esb-rie vs. the loopback floor.",
			Run:         runWarmInvoke,
		},
		{
			Name:        "throughput",
			Description: "Requests per second through the gateway at 1, 8, 32 and 128 connections vs. the same invokes sent straight to the warm workers (target: at least 70 % of direct at 32 connections).",
			Run:         runThroughput,
		},
		{
			Name:        "cold-start",
			Description: "Container start to first answer, per mode and runtime: esb's agent vs. a bare `docker run` / `ctr run` of the same image.",
			Run:         runColdStart,
		},
		{
			Name:        "scale-out",
			Description: "Concurrent requests served from zero workers vs. one request from zero.",
			Run:         runScaleOut,
		},
		{
			Name:        "esb-up",
			Description: "`esb up --wait` to a ready project (hello-go, images built) vs. one bare `docker run` to first answer.",
			Run:         runUp,
		},
		{
			Name:        "idle-memory",
			Description: "Memory of the idle control plane (gateway, agent, dynamodb, s3) after scale-to-zero, vs. a minimal idle Go HTTP server.",
			Run:         runIdleMemory,
		},
		{
			Name:        "logs",
			Description: "The log pipeline: invoke latency of a function printing 100 lines per invoke with its lines stored locally or in VictoriaLogs vs. discarded, and lines per second from one chatty function to each store.",
			Run:         runLogs,
		},
		{
			Name:        "dynamodb",
			Description: "esb's DynamoDB against dynalite (npm) in the same run: PutItem, GetItem, Query of 100 items, and a 90/10 read/write mix with 32 clients.",
			Run:         runDynamoDB,
		},
		{
			Name:        "s3",
			Description: "esb's S3 against a plain local-disk copy of the same bytes: PUT/GET of 1 KiB objects (sequential and 32 clients) and of 64 MiB objects.",
			Run:         runS3,
		},
	}
}

// buildBinaries builds esb and esb-rie into dir.
func buildBinaries(ctx context.Context, dir string) error {
	for _, b := range []struct{ out, pkg string }{{"esb", "./cmd/esb"}, {"esb-rie", "./cmd/esb-rie"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// loads are the connection counts of throughput scenarios.
func loads(env *harness.Env) []int {
	if env.Smoke {
		return []int{1, 8}
	}
	return []int{1, 8, 32, 128}
}

// echoServer starts a plain loopback HTTP echo server: the floor of every HTTP
// comparison. It serves HTTP/1.1 and cleartext HTTP/2.
func echoServer() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Protocols: &p,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}),
	}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// httpClient returns a client with keep-alive for conns connections, speaking
// HTTP/1.1 or cleartext HTTP/2.
func httpClient(conns int, h2c bool) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	if h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// postOp returns a load op that POSTs body to url and expects a 2xx answer.
func postOp(c *http.Client, url, body string, header http.Header) loadgen.Op {
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

func runLoopbackHTTP(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	url, stop, err := echoServer()
	if err != nil {
		return nil, err
	}
	defer stop()
	o := &harness.Outcome{Plot: true}
	for _, c := range loads(env) {
		pt := harness.Point{Load: fmt.Sprintf("%d conn", c)}
		for _, v := range []struct {
			name string
			h2c  bool
		}{{"HTTP/1.1", false}, {"HTTP/2 (h2c)", true}} {
			client := httpClient(c, v.h2c)
			s, err := harness.Measure(ctx, env, postOp(client, url, `{"hello":"world"}`, nil),
				loadgen.Options{Concurrency: c, Duration: env.Duration, Warmup: env.Duration / 5})
			client.CloseIdleConnections()
			if err != nil {
				return nil, fmt.Errorf("%s at %d connections: %w", v.name, c, err)
			}
			pt.Variants = append(pt.Variants, harness.Variant{Name: v.name, Baseline: !v.h2c, Samples: s})
		}
		o.Points = append(o.Points, pt)
	}
	return o, nil
}
