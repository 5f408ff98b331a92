package loadgen

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 100000)
	for i := range vals {
		// Spread over 1 µs .. 10 s, log-uniform.
		v := int64(1000 * math.Pow(10, r.Float64()*7))
		vals[i] = v
		h.Record(time.Duration(v))
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		idx := int(q*float64(len(vals))+0.5) - 1
		if idx < 0 {
			idx = 0
		}
		want := float64(vals[idx])
		got := float64(h.Quantile(q))
		if d := (got - want) / want; d > 0.01 || d < -0.01 {
			t.Errorf("q%.3f = %v, want %v (±1%%)", q, time.Duration(got), time.Duration(want))
		}
	}
	if h.Count() != uint64(len(vals)) || h.Min() != time.Duration(vals[0]) || h.Max() != time.Duration(vals[len(vals)-1]) {
		t.Errorf("count/min/max = %d/%v/%v", h.Count(), h.Min(), h.Max())
	}
}

func TestHistogramMergeAndSmallValues(t *testing.T) {
	var a, b Histogram
	for i := range 100 {
		a.Record(time.Duration(i))
	}
	b.Record(5 * time.Second)
	a.Merge(&b)
	if a.Count() != 101 || a.Max() != 5*time.Second || a.Min() != 0 {
		t.Fatalf("merged count/min/max = %d/%v/%v", a.Count(), a.Min(), a.Max())
	}
	if got := a.Quantile(0.5); got != 50 {
		t.Errorf("median of 0..99 and one outlier = %v, want 50ns", got)
	}
}

func TestClosedLoopHonoursRequestBudget(t *testing.T) {
	var calls atomic.Int64
	res, err := Run(context.Background(), func(ctx context.Context, w int) error {
		calls.Add(1)
		return nil
	}, Options{Concurrency: 8, Requests: 1000, Duration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 || calls.Load() != 1000 {
		t.Fatalf("requests = %d, calls = %d, want 1000", res.Requests, calls.Load())
	}
}

func TestOpenLoopChargesStallsToDelayedRequests(t *testing.T) {
	// One worker, 1000 req/s, every call takes 5 ms: requests queue behind each
	// other, so measured latency must grow far beyond the 5 ms service time.
	res, err := Run(context.Background(), func(ctx context.Context, w int) error {
		time.Sleep(5 * time.Millisecond)
		return nil
	}, Options{Concurrency: 1, Rate: 1000, Requests: 40, Duration: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 40 {
		t.Fatalf("requests = %d, want 40", res.Requests)
	}
	if p99 := res.Latency.Quantile(0.99); p99 < 50*time.Millisecond {
		t.Errorf("p99 = %v; an open-loop run must count queueing delay (want ≥ 50ms)", p99)
	}
}

func TestErrorsStopTheRun(t *testing.T) {
	boom := errors.New("boom")
	res, err := Run(context.Background(), func(ctx context.Context, w int) error { return boom },
		Options{Concurrency: 2, Duration: 10 * time.Second, MaxErrors: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors < 10 || !errors.Is(res.FirstError, boom) || res.Elapsed > 5*time.Second {
		t.Fatalf("errors = %d first = %v elapsed = %v", res.Errors, res.FirstError, res.Elapsed)
	}
}

// A request slower than the whole run still finishes and counts: the slow
// tail is what a latency benchmark must not drop.
func TestRequestsInFlightAtTheEndCount(t *testing.T) {
	op := func(ctx context.Context, _ int) error {
		select {
		case <-time.After(120 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r, err := Run(context.Background(), op, Options{Concurrency: 2, Duration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 2 || r.Errors != 0 {
		t.Fatalf("requests %d errors %d, want 2 and 0", r.Requests, r.Errors)
	}
	if p := r.Latency.Quantile(0.5); p < 100*time.Millisecond {
		t.Errorf("p50 %v, want the full 120ms", p)
	}
}
