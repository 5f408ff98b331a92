package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edgeserverlessbox/esb/bench/harness"
	"github.com/edgeserverlessbox/esb/bench/loadgen"
)

// awsRIEModule is AWS's Runtime Interface Emulator, built at bench time from
// the Go module proxy (never vendored) as the reference esb-rie replaces.
const awsRIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// runRIEOverhead measures esb-rie on its own, as a host process on loopback
// running an aws-lambda-go echo function, against the loopback echo floor:
// the per-invoke overhead of the Lambda path (invoke endpoint → Runtime API
// /next → function → /response → caller) without containers or networks.
// Two references run the same function in the same rounds: AWS's own
// emulator (aws-lambda-rie) and minrie, the smallest correct Runtime API
// emulator (cmd/esb-rie/testdata/minrie), the protocol's floor on net/http.
func runRIEOverhead(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	o := &harness.Outcome{Notes: "Each emulator runs as a host process with cmd/esb-rie/testdata/gofn (aws-lambda-go echo) as its custom runtime, its stdout to /dev/null; " +
		"one keep-alive loopback connection POSTs the REST event to its invoke endpoint. Floor: the same POST to a Go echo server in the load generator's process. " +
		"minimal emulator: cmd/esb-rie/testdata/minrie (invoke endpoint, /next, /response on net/http, nothing else). " +
		"aws-lambda-rie: AWS's emulator built from " + awsRIEModule + " with its default log level. " +
		"Rounds interleave the variants (floor, esb-rie, aws-lambda-rie, minimal, then again), one measured run each per round."}
	fn := filepath.Join(env.BinDir, "gofn")
	minrie := filepath.Join(env.BinDir, "minrie")
	for _, b := range []struct{ out, pkg string }{{fn, "./cmd/esb-rie/testdata/gofn"}, {minrie, "./cmd/esb-rie/testdata/minrie"}} {
		build := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	task := filepath.Join(env.WorkDir, "rie-task")
	if err := os.MkdirAll(task, 0o755); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	var procs []*exec.Cmd
	defer func() {
		cancel()
		for _, p := range procs {
			_ = p.Wait()
		}
	}()
	procEnv := []string{"PATH=/usr/bin:/bin", "LAMBDA_TASK_ROOT=" + task, "AWS_LAMBDA_FUNCTION_NAME=echo", "HOME=" + task}
	c := httpClient(1, false)
	defer c.CloseIdleConnections()
	// start runs one emulator and returns its invoke op once it answers.
	start := func(name string, args func(addr string) []string) (loadgen.Op, error) {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		a := args(addr)
		p := exec.CommandContext(rctx, a[0], a[1:]...)
		p.Env, p.Dir = procEnv, task
		// SIGTERM lets each emulator stop its runtime; SIGKILL after 5 s.
		p.Cancel = func() error { return p.Process.Signal(syscall.SIGTERM) }
		p.WaitDelay = 5 * time.Second
		if err := p.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, p)
		invoke := func(ctx context.Context, _ int) error { return invokeWorker(ctx, c, addr, helloEvent) }
		if err := waitFor(ctx, 10*time.Second, func() error { return invoke(ctx, 0) }); err != nil {
			return nil, fmt.Errorf("%s did not answer: %w", name, err)
		}
		return invoke, nil
	}
	floorURL, stop, err := echoServer()
	if err != nil {
		return nil, err
	}
	defer stop()
	type variant struct {
		name string
		op   loadgen.Op
	}
	vs := []variant{{name: "loopback floor", op: postOp(c, floorURL, string(helloEvent), nil)}}
	op, err := start("esb-rie", func(addr string) []string {
		return []string{filepath.Join(env.BinDir, "esb-rie"), "--listen", addr, fn}
	})
	if err != nil {
		return nil, err
	}
	vs = append(vs, variant{"esb-rie + aws-lambda-go", op})
	if aws, err := buildAWSRIE(ctx, env); err != nil {
		fmt.Fprintf(os.Stderr, "rie-overhead: aws-lambda-rie variant skipped: %v\n", err)
		o.Notes += " aws-lambda-rie variant skipped: " + err.Error() + "."
	} else {
		op, err := start("aws-lambda-rie", func(addr string) []string {
			api, _ := freeLoopbackAddr()
			return []string{aws, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, fn}
		})
		if err != nil {
			return nil, err
		}
		vs = append(vs, variant{"aws-lambda-rie + aws-lambda-go", op})
	}
	op, err = start("minrie", func(addr string) []string { return []string{minrie, "--listen", addr, fn} })
	if err != nil {
		return nil, err
	}
	vs = append(vs, variant{"minimal emulator + aws-lambda-go", op})

	pt := harness.Point{Load: "1 conn"}
	for i, v := range vs {
		pt.Variants = append(pt.Variants, harness.Variant{Name: v.name, Baseline: i == 0})
	}
	lo := loadgen.Options{Concurrency: 1, Duration: env.Duration, Warmup: env.Duration / 5}
	once := *env
	once.Repeat = 1
	for range env.Repeat {
		for i, v := range vs {
			sm, err := harness.Measure(ctx, &once, v.op, lo)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v.name, err)
			}
			pt.Variants[i].Samples = append(pt.Variants[i].Samples, sm...)
		}
	}
	o.Points = append(o.Points, pt)
	floor := harness.Summarise(pt.Variants[0].Samples)
	o.Notes += " Per-invoke overhead (p50 minus the floor's " + fmtMicros(floor.P50) + "):"
	for i, v := range pt.Variants[1:] {
		sep := ","
		if i == 0 {
			sep = ""
		}
		o.Notes += fmt.Sprintf("%s %s %s", sep, v.Name, fmtMicros(harness.Summarise(v.Samples).P50-floor.P50))
	}
	o.Notes += " (target for esb-rie: under 100 µs)."
	return o, nil
}

// buildAWSRIE builds AWS's aws-lambda-rie into the bench's bin directory
// with `go install` from the module proxy/cache, outside the esb module.
func buildAWSRIE(ctx context.Context, env *harness.Env) (string, error) {
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "go", "install", awsRIEModule)
	cmd.Dir = env.WorkDir
	cmd.Env = append(os.Environ(), "GOBIN="+env.BinDir, "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v: %s", awsRIEModule, err, strings.TrimSpace(string(out)))
	}
	return filepath.Join(env.BinDir, "aws-lambda-rie"), nil
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
