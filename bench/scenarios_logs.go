package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgeserverlessbox/esb/bench/harness"
)

// loggingRun mirrors what BenchmarkIntegrationLogging (internal/logs) writes
// to ESB_BENCH_OUT.
type loggingRun struct {
	Mode    string `json:"mode"`
	Latency []struct {
		Name    string        `json:"name"`
		Invokes int           `json:"invokes"`
		P50     time.Duration `json:"p50_ns"`
		P99     time.Duration `json:"p99_ns"`
	} `json:"latency"`
	Throughput []struct {
		Name        string  `json:"name"`
		Lines       int     `json:"lines"`
		LinesPerSec float64 `json:"lines_per_sec"`
	} `json:"throughput"`
}

// runLogs runs the log pipeline's integration benchmark (the real agent and
// esb-rie in containerd mode, a function printing 100 lines per invoke) once
// per repetition and folds its figures into the report.
func runLogs(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	if os.Getenv("ESB_TEST_CONTAINERD_ADDRESS") == "" {
		return nil, fmt.Errorf("%w: needs the private containerd of scripts/test-daemons.sh (make bench starts it)", harness.ErrSkip)
	}
	invokes, lines := "400", "200000"
	if env.Smoke {
		invokes, lines = "20", "2000"
	}
	o := &harness.Outcome{Notes: "containerd mode, the real agent and esb-rie; the function prints 100 lines of ~70 characters per invoke; " + invokes + " invokes per variant, variants interleaved invoke by invoke. " +
		"Baseline: the agent reads the lines and discards them. Throughput: one invoke printing " + lines + " lines, timed until the store took the last one. " +
		"Target: logging costs under 10 % of invoke latency at p50. Details: docs/bench/logs.md."}
	lat := harness.Point{Load: "invoke p50, 100 lines per invoke"}
	tail := harness.Point{Load: "invoke p99, 100 lines per invoke"}
	rate := harness.Point{Load: "lines/s, one chatty invoke"}
	for i := range env.Repeat {
		out := filepath.Join(env.WorkDir, fmt.Sprintf("logs-%d.json", i))
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "XXX", "-bench", "IntegrationLogging", "-benchtime", "1x", "./internal/logs")
		cmd.Env = append(os.Environ(), "ESB_E2E=1", "ESB_BENCH_MODE=containerd", "ESB_BENCH_INVOKES="+invokes,
			"ESB_BENCH_LINES="+lines, "ESB_BENCH_OUT="+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			if len(b) > 2000 {
				b = b[len(b)-2000:]
			}
			return nil, fmt.Errorf("logging benchmark: %v\n%s", err, b)
		}
		var r loggingRun
		data, err := os.ReadFile(out)
		if err == nil {
			err = json.Unmarshal(data, &r)
		}
		if err != nil {
			return nil, fmt.Errorf("read logging benchmark results: %w", err)
		}
		for j, l := range r.Latency {
			base := j == 0
			addScalar(&lat, l.Name, base, "ms", float64(l.P50)/1e6)
			addScalar(&tail, l.Name, base, "ms", float64(l.P99)/1e6)
		}
		for j, t := range r.Throughput {
			addScalar(&rate, t.Name, j == 0, "lines/s", t.LinesPerSec)
		}
	}
	o.Points = []harness.Point{lat, tail, rate}
	if base, local := lat.Variants[0], lat.Variants[1]; len(base.Samples) > 0 {
		b, l := harness.Summarise(base.Samples).Value, harness.Summarise(local.Samples).Value
		o.Notes += " Logging to the local store costs " + strconv.FormatFloat(100*(l/b-1), 'f', 1, 64) + " % at p50 in this run."
	}
	return o, nil
}

// addScalar appends one repetition's value to the named variant of p.
func addScalar(p *harness.Point, name string, baseline bool, unit string, v float64) {
	name = strings.TrimSuffix(name, " (baseline)") // the report marks the baseline itself
	for i := range p.Variants {
		if p.Variants[i].Name == name {
			p.Variants[i].Samples = append(p.Variants[i].Samples, harness.Sample{Value: v})
			return
		}
	}
	p.Variants = append(p.Variants, harness.Variant{Name: name, Baseline: baseline, Unit: unit, Samples: []harness.Sample{{Value: v}}})
}
