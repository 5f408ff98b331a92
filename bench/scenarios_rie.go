package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/edgeserverlessbox/esb/bench/harness"
	"github.com/edgeserverlessbox/esb/bench/loadgen"
)

// runRIEOverhead measures esb-rie on its own, as a host process on loopback
// running an aws-lambda-go echo function, against the loopback echo floor:
// the per-invoke overhead of the Lambda path (invoke endpoint → Runtime API
// /next → function → /response → caller) without containers or networks.
func runRIEOverhead(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	o := &harness.Outcome{Notes: "esb-rie runs as a host process with cmd/esb-rie/testdata/gofn (aws-lambda-go echo) as its custom runtime, its stdout to /dev/null; " +
		"one keep-alive loopback connection POSTs the REST event to its invoke endpoint. Floor: the same POST to a Go echo server in the load generator's process."}
	fn := filepath.Join(env.BinDir, "gofn")
	build := exec.CommandContext(ctx, "go", "build", "-o", fn, "./cmd/esb-rie/testdata/gofn")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build gofn: %v\n%s", err, out)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	task := filepath.Join(env.WorkDir, "rie-task")
	if err := os.MkdirAll(task, 0o755); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rie := exec.CommandContext(rctx, filepath.Join(env.BinDir, "esb-rie"), "--listen", addr, fn)
	rie.Env = []string{"PATH=/usr/bin:/bin", "LAMBDA_TASK_ROOT=" + task, "AWS_LAMBDA_FUNCTION_NAME=echo", "HOME=" + task}
	rie.Stdout, rie.Stderr = nil, nil
	if err := rie.Start(); err != nil {
		return nil, fmt.Errorf("start esb-rie: %w", err)
	}
	defer func() { cancel(); _ = rie.Wait() }()

	c := httpClient(1, false)
	defer c.CloseIdleConnections()
	invoke := func(ctx context.Context, _ int) error { return invokeWorker(ctx, c, addr, helloEvent) }
	if err := waitFor(ctx, 10*time.Second, func() error { return invoke(ctx, 0) }); err != nil {
		return nil, fmt.Errorf("esb-rie did not answer: %w", err)
	}
	floorURL, stop, err := echoServer()
	if err != nil {
		return nil, err
	}
	defer stop()
	pt := harness.Point{Load: "1 conn"}
	lo := loadgen.Options{Concurrency: 1, Duration: env.Duration, Warmup: env.Duration / 5}
	for _, v := range []struct {
		name string
		op   loadgen.Op
		base bool
	}{{"loopback floor", postOp(c, floorURL, string(helloEvent), nil), true}, {"esb-rie + aws-lambda-go", invoke, false}} {
		sm, err := harness.Measure(ctx, env, v.op, lo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		pt.Variants = append(pt.Variants, harness.Variant{Name: v.name, Baseline: v.base, Samples: sm})
	}
	o.Points = append(o.Points, pt)
	floor, rieStat := harness.Summarise(pt.Variants[0].Samples), harness.Summarise(pt.Variants[1].Samples)
	o.Notes += fmt.Sprintf(" esb-rie's per-invoke overhead (its p50 minus the floor's): %s (target: under 100 µs).", fmtMicros(rieStat.P50-floor.P50))
	return o, nil
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitFor retries f until it succeeds or limit passes.
func waitFor(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
