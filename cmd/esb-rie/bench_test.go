package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoServerEnv makes the test binary serve as the plain loopback HTTP echo
// server the benchmark compares esb-rie with.
const echoServerEnv = "ESB_RIE_TEST_ECHO_SERVER"

func runEchoServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
}

// startEchoServer runs the plain echo server in a process of its own, as
// esb-rie and its runtime are.
func startEchoServer(b *testing.B) (string, int) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoServerEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("echo server: %v", err)
	}
	return "http://" + strings.TrimSpace(line) + "/echo", cmd.Process.Pid
}

// cpuTime is a process's user+system CPU time from /proc/<pid>/stat.
func cpuTime(pid int) time.Duration {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// childPID returns the first child of pid (esb-rie's runtime).
func childPID(pid int) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(e.Name())
			return n
		}
	}
	return 0
}

// awsRIEModule is AWS's Runtime Interface Emulator, the reference the
// benchmark also measures. It is built from the Go module proxy when the
// benchmark runs, never vendored.
const awsRIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// buildAWSRIE installs aws-lambda-rie into dir with `go install`, outside
// this module.
func buildAWSRIE(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "install", awsRIEModule)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v: %s", awsRIEModule, err, bytes.TrimSpace(out))
	}
	return filepath.Join(dir, "aws-lambda-rie"), nil
}

// startEmulator runs another Runtime API emulator (minrie, aws-lambda-rie)
// with the aws-lambda-go echo function and returns its invoke URL once it
// answers.
func startEmulator(b *testing.B, name string, argv func(addr string) []string, post func(string) (int, []byte, error)) string {
	addr := freeAddr(b)
	a := argv(addr)
	task := b.TempDir()
	cmd := exec.Command(a[0], a[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + task, "LAMBDA_TASK_ROOT=" + task, "AWS_LAMBDA_FUNCTION_NAME=hello"}
	cmd.Dir = task
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, _, err := post(url); err == nil && status == 200 {
			return url
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not answer an invoke within 10s", name)
		}
	}
}

// BenchmarkInvokeOverhead invokes an aws-lambda-go echo function through
// esb-rie over loopback HTTP with keep-alive, alternating request by
// request with a plain loopback HTTP echo server, and reports both medians,
// their ratio and the difference: esb-rie's per-invoke overhead. Two
// references run the same function in the same alternation: minrie
// (testdata/minrie, the smallest correct Runtime API emulator: the
// protocol's floor on net/http) and AWS's aws-lambda-rie (built from the
// module proxy; left out with a logged reason when it cannot be built).
func BenchmarkInvokeOverhead(b *testing.B) {
	r := startRIE(b, rieOptions{args: []string{gofnBin}, dir: b.TempDir(), quiet: true, env: strings.Fields(os.Getenv("ESB_RIE_BENCH_ENV"))})
	echoURL, echoPID := startEchoServer(b)
	invokeURL := r.url + "/2015-03-31/functions/function/invocations"
	payload := []byte(`{"path":"/orders/42","httpMethod":"GET","headers":{"accept":"application/json"},"body":null}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	post := func(url string) (int, []byte, error) {
		resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
		if err != nil {
			return 0, nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, body, err
	}
	call := func(url string) time.Duration {
		start := time.Now()
		status, body, err := post(url)
		d := time.Since(start)
		if err != nil || status != 200 || !bytes.Equal(body, payload) {
			b.Fatalf("%s: %d %s %v", url, status, body, err)
		}
		return d
	}
	type target struct {
		name, url string
		lat       []time.Duration
	}
	targets := []*target{{name: "plain", url: echoURL}, {name: "esb-rie", url: invokeURL}}
	minURL := startEmulator(b, "minrie", func(addr string) []string { return []string{minrieBin, "--listen", addr, gofnBin} }, post)
	targets = append(targets, &target{name: "minrie", url: minURL})
	if aws, err := buildAWSRIE(filepath.Dir(rieBin)); err != nil {
		b.Logf("aws-lambda-rie left out: %v", err)
	} else {
		awsURL := startEmulator(b, "aws-lambda-rie", func(addr string) []string {
			return []string{aws, "--runtime-interface-emulator-address", addr, "--runtime-api-address", freeAddr(b), gofnBin}
		}, post)
		targets = append(targets, &target{name: "aws-rie", url: awsURL})
	}
	for i := 0; i < 300; i++ { // warm every path and connection
		for _, t := range targets {
			call(t.url)
		}
	}
	rieCPU0, fnCPU0, echoCPU0 := cpuTime(r.cmd.Process.Pid), cpuTime(childPID(r.cmd.Process.Pid)), cpuTime(echoPID)
	for _, t := range targets {
		t.lat = make([]time.Duration, 0, b.N)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, t := range targets {
			t.lat = append(t.lat, call(t.url))
		}
	}
	b.StopTimer()
	perOp := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(b.N) }
	// CPU time per request, from /proc (10 ms ticks, so only meaningful
	// for thousands of requests): what each server spends, whatever the
	// scheduler noise.
	b.ReportMetric(perOp(cpuTime(r.cmd.Process.Pid)-rieCPU0), "esb-rie-cpu-µs/op")
	b.ReportMetric(perOp(cpuTime(childPID(r.cmd.Process.Pid))-fnCPU0), "function-cpu-µs/op")
	b.ReportMetric(perOp(cpuTime(echoPID)-echoCPU0), "plain-cpu-µs/op")
	p := func(d []time.Duration, q float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[int(q*float64(len(s)-1))]) / float64(time.Microsecond)
	}
	plain := targets[0].lat
	b.ReportMetric(p(plain, 0.5), "plain-p50-µs")
	b.ReportMetric(p(plain, 0.99), "plain-p99-µs")
	for _, t := range targets[1:] {
		b.ReportMetric(p(t.lat, 0.5), t.name+"-p50-µs")
		b.ReportMetric(p(t.lat, 0.99), t.name+"-p99-µs")
		b.ReportMetric(p(t.lat, 0.5)-p(plain, 0.5), t.name+"-overhead-p50-µs")
		b.ReportMetric(p(t.lat, 0.5)/p(plain, 0.5), t.name+"-ratio-p50")
	}
}
