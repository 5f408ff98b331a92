package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
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

// BenchmarkInvokeOverhead invokes an aws-lambda-go echo function through
// esb-rie over loopback HTTP with keep-alive, alternating request by
// request with a plain loopback HTTP echo server, and reports both medians,
// their ratio and the difference: esb-rie's per-invoke overhead.
func BenchmarkInvokeOverhead(b *testing.B) {
	r := startRIE(b, rieOptions{args: []string{gofnBin}, dir: b.TempDir(), quiet: true, env: strings.Fields(os.Getenv("ESB_RIE_BENCH_ENV"))})
	echoURL, echoPID := startEchoServer(b)
	invokeURL := r.url + "/2015-03-31/functions/function/invocations"
	payload := []byte(`{"path":"/orders/42","httpMethod":"GET","headers":{"accept":"application/json"},"body":null}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	call := func(url string) time.Duration {
		start := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != 200 || !bytes.Equal(body, payload) {
			b.Fatalf("%s: %d %s", url, resp.StatusCode, body)
		}
		return d
	}
	for i := 0; i < 300; i++ { // warm both paths and connections
		call(echoURL)
		call(invokeURL)
	}
	rieCPU0, fnCPU0, echoCPU0 := cpuTime(r.cmd.Process.Pid), cpuTime(childPID(r.cmd.Process.Pid)), cpuTime(echoPID)
	plain := make([]time.Duration, 0, b.N)
	esb := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plain = append(plain, call(echoURL))
		esb = append(esb, call(invokeURL))
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
	b.ReportMetric(p(plain, 0.5), "plain-p50-µs")
	b.ReportMetric(p(plain, 0.99), "plain-p99-µs")
	b.ReportMetric(p(esb, 0.5), "esb-rie-p50-µs")
	b.ReportMetric(p(esb, 0.99), "esb-rie-p99-µs")
	b.ReportMetric(p(esb, 0.5)-p(plain, 0.5), "overhead-p50-µs")
	b.ReportMetric(p(esb, 0.5)/p(plain, 0.5), "ratio-p50")
}
