// Package harness runs benchmark scenarios repeatedly, summarises them against a
// baseline measured in the same run, and writes the results as JSON, Markdown and
// SVG plots.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/edgeserverlessbox/esb/bench/loadgen"
)

// Sample is one repetition of one measured variant.
type Sample struct {
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Mean       time.Duration `json:"mean_ns"`
	Throughput float64       `json:"rps"`
	Requests   uint64        `json:"requests"`
	Errors     uint64        `json:"errors"`
	// Value holds a scalar measurement (bytes, seconds) for variants that are
	// not latency distributions, such as idle memory.
	Value float64 `json:"value,omitempty"`
}

// SampleOf summarises one load run.
func SampleOf(r *loadgen.Result) Sample {
	return Sample{
		P50:        r.Latency.Quantile(0.5),
		P99:        r.Latency.Quantile(0.99),
		Mean:       r.Latency.Mean(),
		Throughput: r.Throughput(),
		Requests:   r.Requests,
		Errors:     r.Errors,
	}
}

// Variant is one side of a comparison: the thing measured or its baseline.
type Variant struct {
	Name string `json:"name"`
	// Baseline marks the floor the others are compared with.
	Baseline bool     `json:"baseline,omitempty"`
	Samples  []Sample `json:"samples"`
	// Unit names Value's unit for scalar variants ("MiB", "ms").
	Unit string `json:"unit,omitempty"`
}

// Point is one load level of a scenario (e.g. 32 connections).
type Point struct {
	Load     string    `json:"load"`
	Variants []Variant `json:"variants"`
}

// Outcome is everything one scenario measured.
type Outcome struct {
	Scenario    string  `json:"scenario"`
	Description string  `json:"description"`
	Points      []Point `json:"points"`
	Skipped     string  `json:"skipped,omitempty"`
	Failed      string  `json:"failed,omitempty"`
	Notes       string  `json:"notes,omitempty"`
	// Plot asks for a latency-vs-load plot: set it when Points are load levels.
	Plot bool `json:"plot,omitempty"`
}

// Env is what a scenario may use: options shared by all scenarios.
type Env struct {
	// Repeat is how many times each variant is measured.
	Repeat int
	// Duration bounds one measured load run.
	Duration time.Duration
	// Smoke asks for the shortest run that still exercises every code path.
	Smoke bool
	// WorkDir is a scratch directory the scenario may use.
	WorkDir string
	// BinDir holds the built esb and esb-rie binaries.
	BinDir string
	Log    *slog.Logger
}

// Scenario is one benchmark.
type Scenario struct {
	Name        string
	Description string
	// Run measures the scenario. Returning ErrSkip (wrapped) records a skip
	// with its reason instead of a failure.
	Run func(ctx context.Context, env *Env) (*Outcome, error)
}

// ErrSkip marks a scenario that cannot run on this machine.
var ErrSkip = errors.New("skipped")

// Measure repeats a load run env.Repeat times and returns the samples, failing if
// any run saw only errors.
func Measure(ctx context.Context, env *Env, op loadgen.Op, o loadgen.Options) ([]Sample, error) {
	samples := make([]Sample, 0, env.Repeat)
	for range env.Repeat {
		r, err := loadgen.Run(ctx, op, o)
		if err != nil {
			return nil, err
		}
		if r.Requests == 0 {
			return nil, fmt.Errorf("no request succeeded (%d errors; first: %v)", r.Errors, r.FirstError)
		}
		samples = append(samples, SampleOf(r))
	}
	return samples, nil
}

// Stat is a summary of samples: the median over repetitions and the spread.
type Stat struct {
	P50, P99   time.Duration
	Throughput float64
	Value      float64
	// Spread is (max−min)/median of the repetition medians (p50, or Value for
	// scalar variants), a measure of the machine's noise.
	Spread float64
}

// Summarise returns the median of the repetitions' p50, p99, throughput and value.
func Summarise(s []Sample) Stat {
	if len(s) == 0 {
		return Stat{}
	}
	p50 := make([]float64, len(s))
	p99 := make([]float64, len(s))
	rps := make([]float64, len(s))
	val := make([]float64, len(s))
	for i, x := range s {
		p50[i], p99[i], rps[i], val[i] = float64(x.P50), float64(x.P99), x.Throughput, x.Value
	}
	st := Stat{
		P50:        time.Duration(median(p50)),
		P99:        time.Duration(median(p99)),
		Throughput: median(rps),
		Value:      median(val),
	}
	spreadOf := p50
	if st.P50 == 0 {
		spreadOf = val
	}
	if m := median(spreadOf); m > 0 {
		st.Spread = (maxOf(spreadOf) - minOf(spreadOf)) / m
	}
	return st
}

func median(v []float64) float64 {
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	n := len(c)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return c[n/2]
	}
	return (c[n/2-1] + c[n/2]) / 2
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

// Baseline returns the point's baseline variant, or nil.
func (p *Point) Baseline() *Variant {
	for i := range p.Variants {
		if p.Variants[i].Baseline {
			return &p.Variants[i]
		}
	}
	return nil
}

// RunAll runs the scenarios in order; a failing scenario is recorded and the
// others still run. Progress goes to progress.
func RunAll(ctx context.Context, env *Env, scenarios []Scenario, progress io.Writer) []Outcome {
	out := make([]Outcome, 0, len(scenarios))
	for _, sc := range scenarios {
		start := time.Now()
		fmt.Fprintf(progress, "▶ %-28s ", sc.Name)
		o, err := sc.Run(ctx, env)
		if o == nil {
			o = &Outcome{}
		}
		o.Scenario, o.Description = sc.Name, sc.Description
		switch {
		case err == nil:
			fmt.Fprintf(progress, "done in %s\n", time.Since(start).Round(100*time.Millisecond))
		case errors.Is(err, ErrSkip):
			o.Skipped, o.Points = err.Error(), nil
			fmt.Fprintf(progress, "skipped: %v\n", err)
		default:
			o.Failed, o.Points = err.Error(), nil
			fmt.Fprintf(progress, "FAILED: %v\n", err)
		}
		out = append(out, *o)
	}
	return out
}
