package logs

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/agent"
)

// countingSink counts lines and drops them: the "output discarded" run.
type countingSink struct{ n atomic.Uint64 }

func (c *countingSink) WriteLine(agent.LogLine) { c.n.Add(1) }

// logVariant is one agent with one sink and one worker.
type logVariant struct {
	name   string
	lines  int // lines the function prints per invoke
	svc    *agent.Service
	worker agent.Worker
	pipe   *Pipeline
	count  *countingSink
	lat    []time.Duration
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkIntegrationLogging measures, with the real agent, esb-rie and
// a function that prints on every invoke, in one run:
//
//   - invoke latency (p50/p90/p99) of a function printing 100 lines per
//     invoke, with the lines going to the local store, to VictoriaLogs, or
//     discarded by the agent's sink (the baseline), invokes interleaved;
//     plus the same function printing nothing, for reference;
//   - lines per second from one chatty function (one invoke printing 200,000
//     lines) into each store, against the discarding sink.
//
// ESB_E2E=1 go test -run XXX -bench IntegrationLogging -benchtime 1x ./internal/logs
// (ESB_BENCH_MODE=docker|containerd, default containerd; ESB_BENCH_INVOKES, default 400;
// ESB_BENCH_LINES, the lines of the throughput invoke; ESB_BENCH_OUT, a JSON file
// for the bench harness, `go run ./bench -run logs`).
func BenchmarkIntegrationLogging(b *testing.B) {
	modeName := cmp.Or(os.Getenv("ESB_BENCH_MODE"), "containerd")
	invokes, err := strconv.Atoi(cmp.Or(os.Getenv("ESB_BENCH_INVOKES"), "400"))
	if err != nil {
		b.Fatal(err)
	}
	var mode logsMode
	for _, m := range logsModes(b) {
		if m.name == modeName {
			mode = m
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := mode.load(ctx, chattyImage(b)); err != nil {
		b.Fatal(err)
	}
	vlAddr := freePort(b)
	startVictoriaLogs(b, victoriaLogsBinary(b), b.TempDir(), vlAddr)

	mk := func(name string, lines int, cfg *Config) *logVariant {
		v := &logVariant{name: name, lines: lines}
		var sink agent.LogSink
		if cfg != nil {
			p, err := Open(*cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			v.pipe, sink = p, p.AgentSink()
		} else {
			v.count = &countingSink{}
			sink = v.count
		}
		rt := mode.newRuntime(b)
		b.Cleanup(func() { rt.Close() })
		acfg := agent.DefaultConfig()
		v.svc = agent.New(acfg, rt, sink, slog.New(slog.DiscardHandler))
		w, err := v.svc.Ensure(ctx, agent.EnsureRequest{Function: "chatty", Project: "logsbench", Image: logsTestImage, MemoryMB: 256,
			Env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "chatty", "AWS_LAMBDA_FUNCTION_TIMEOUT": "60", "ESB_LOG_FORMAT": "json"}})
		if err != nil {
			b.Fatal(err)
		}
		v.worker = w
		b.Cleanup(func() { v.svc.Destroy(context.Background(), w.ID) })
		return v
	}
	variants := []*logVariant{
		mk("discarded (baseline)", 100, nil),
		mk("local store", 100, &Config{Service: "agent", Dir: b.TempDir()}),
		mk("VictoriaLogs", 100, &Config{Service: "agent", Dir: b.TempDir(), VictoriaLogsURL: "http://" + vlAddr}),
		mk("no output", 0, nil),
	}
	client := &http.Client{Timeout: 60 * time.Second}
	invoke := func(v *logVariant, lines int, i int) time.Duration {
		start := time.Now()
		resp, body, err := invokeWorker(ctx, client, v.worker, fmt.Sprintf("bench-%d", i), "Root=1-6745a0b0-0123456789abcdef01234567;Sampled=1",
			fmt.Sprintf(`{"lines":%d}`, lines))
		d := time.Since(start)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" {
			b.Fatalf("%s: invoke: %v %s", v.name, err, body)
		}
		return d
	}
	for i := 0; i < 20; i++ { // warm up
		for _, v := range variants {
			invoke(v, v.lines, -i)
		}
	}
	b.ResetTimer()
	for i := 0; i < invokes; i++ {
		for j := range variants {
			v := variants[(i+j)%len(variants)] // rotate who goes first
			v.lat = append(v.lat, invoke(v, v.lines, i))
		}
	}
	b.StopTimer()
	base := percentile(variants[0].lat, 0.5)
	b.Logf("mode %s, %d invokes each, function printing 100 lines per invoke (interleaved)", modeName, invokes)
	b.Logf("%-22s %9s %9s %9s %9s", "output", "p50 ms", "p90 ms", "p99 ms", "p50/base")
	for _, v := range variants {
		p50 := percentile(v.lat, 0.5)
		b.Logf("%-22s %9.3f %9.3f %9.3f %9.3f", v.name, ms(p50), ms(percentile(v.lat, 0.9)), ms(percentile(v.lat, 0.99)), float64(p50)/float64(base))
	}
	var res loggingResult
	res.Mode = modeName
	for _, v := range variants {
		res.Latency = append(res.Latency, loggingLatency{Name: v.name, Invokes: len(v.lat),
			P50: percentile(v.lat, 0.5), P99: percentile(v.lat, 0.99)})
	}
	b.ReportMetric(float64(percentile(variants[1].lat, 0.5))/float64(base), "p50-local/discard")
	b.ReportMetric(float64(percentile(variants[2].lat, 0.5))/float64(base), "p50-vl/discard")

	// Throughput: one invoke printing many lines, until the store took them.
	// Docker keeps a worker's output in a json-file log of 2 × 10 MB: a
	// burst larger than that, written faster than Docker streams it back,
	// loses lines before any sink sees them, so Docker mode prints fewer.
	many := 200000
	if modeName == "docker" {
		many = 40000
	}
	if v := os.Getenv("ESB_BENCH_LINES"); v != "" {
		if many, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	delivered := func(v *logVariant) uint64 {
		if v.count != nil {
			return v.count.n.Load()
		}
		return v.pipe.Stats().Delivered
	}
	b.Logf("%-22s %12s %12s %9s", "store", "lines", "lines/s", "ratio")
	var baseRate float64
	for _, v := range variants[:3] {
		before := delivered(v)
		start := time.Now()
		invoke(v, many, 1<<20)
		want := before + uint64(many) + 3 // START, END, REPORT
		for delivered(v) < want {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("%s: %d of %d lines after 2 minutes", v.name, delivered(v)-before, many)
			}
			time.Sleep(time.Millisecond)
		}
		rate := float64(many) / time.Since(start).Seconds()
		if baseRate == 0 {
			baseRate = rate
		}
		b.Logf("%-22s %12d %12.0f %9.3f", v.name, many, rate, rate/baseRate)
		res.Throughput = append(res.Throughput, loggingRate{Name: v.name, Lines: many, LinesPerSec: rate})
		if v.pipe != nil {
			b.ReportMetric(rate, strings.ReplaceAll(strings.ToLower(v.name), " ", "-")+"-lines/s")
		}
	}
	for _, v := range variants {
		if v.pipe != nil {
			v.pipe.Close()
			if s := v.pipe.Stats(); s.Dropped != 0 {
				b.Errorf("%s dropped %d lines", v.name, s.Dropped)
			}
		}
	}
	if out := os.Getenv("ESB_BENCH_OUT"); out != "" {
		data, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(out, data, 0o644)
		}
		if err != nil {
			b.Fatalf("write %s: %v", out, err)
		}
	}
}

// loggingResult is what BenchmarkIntegrationLogging writes to ESB_BENCH_OUT
// (read by bench/scenarios_logs.go).
type loggingResult struct {
	Mode       string           `json:"mode"`
	Latency    []loggingLatency `json:"latency"`
	Throughput []loggingRate    `json:"throughput"`
}

type loggingLatency struct {
	Name    string        `json:"name"`
	Invokes int           `json:"invokes"`
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
}

type loggingRate struct {
	Name        string  `json:"name"`
	Lines       int     `json:"lines"`
	LinesPerSec float64 `json:"lines_per_sec"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
