package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Op performs one request. worker is the index of the calling worker (0..N-1), so
// an Op can keep per-worker state (a connection, a key range) without locks.
type Op func(ctx context.Context, worker int) error

// Options bound one load run. A run stops at whichever limit comes first:
// Duration, Requests, or the context.
type Options struct {
	// Concurrency is the number of workers (closed loop) or the most requests in
	// flight (open loop). Default 1.
	Concurrency int
	// Rate, when > 0, makes the run open-loop: requests are started at Rate per
	// second on a fixed schedule and latency is measured from each one's
	// scheduled start, so a stall is charged to every request it delayed.
	Rate float64
	// Duration bounds the run's measured phase: no request starts after it.
	// Requests in flight when it ends finish and count (so the slowest ones are
	// not censored from the tail), for at most DrainGrace more.
	Duration time.Duration
	// Requests bounds the number of measured requests (0 = no bound).
	Requests int
	// Warmup runs before measuring, for this long; its results are discarded.
	Warmup time.Duration
	// MaxErrors stops the run after this many errors (0 = 100).
	MaxErrors int
}

// Result is what one run measured.
type Result struct {
	Latency  Histogram
	Requests uint64
	Errors   uint64
	// FirstError is the first error seen, for the report.
	FirstError error
	Elapsed    time.Duration
}

// Throughput is completed requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Run drives op with the given options and returns the measurements.
func Run(ctx context.Context, op Op, o Options) (*Result, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = 100
	}
	if o.Duration <= 0 && o.Requests <= 0 {
		return nil, errors.New("loadgen: set Duration or Requests to bound the run")
	}
	if o.Warmup > 0 {
		wo := o
		wo.Warmup, wo.Duration, wo.Requests = 0, o.Warmup, 0
		if _, err := Run(ctx, op, wo); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	if o.Rate > 0 {
		return runOpen(ctx, op, o)
	}
	return runClosed(ctx, op, o)
}

// shared is the state workers update at the end of a run or under errMu.
type shared struct {
	// stop ends when no new request may start; requests run under the
	// context newShared returns, which outlives it by DrainGrace.
	stop     context.Context
	mu       sync.Mutex
	res      Result
	budget   chan struct{} // one token per allowed request, when Requests > 0
	errCount int
	maxErr   int
	cancel   context.CancelFunc
}

func (s *shared) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.Errors++
	if s.res.FirstError == nil {
		s.res.FirstError = err
	}
	s.errCount++
	if s.errCount >= s.maxErr {
		s.cancel()
	}
}

func (s *shared) merge(h *Histogram, n uint64) {
	s.mu.Lock()
	s.res.Latency.Merge(h)
	s.res.Requests += n
	s.mu.Unlock()
}

// DrainGrace is how long requests in flight at the end of a run's Duration
// may still take.
const DrainGrace = 10 * time.Second

func newShared(ctx context.Context, o Options) (*shared, context.Context) {
	var cctx context.Context
	s := &shared{maxErr: o.MaxErrors}
	if o.Duration > 0 {
		cctx, s.cancel = context.WithTimeout(ctx, o.Duration+DrainGrace)
		var stopCancel context.CancelFunc
		s.stop, stopCancel = context.WithTimeout(cctx, o.Duration)
		cancel := s.cancel
		s.cancel = func() { stopCancel(); cancel() }
	} else {
		cctx, s.cancel = context.WithCancel(ctx)
		s.stop = cctx
	}
	if o.Requests > 0 {
		s.budget = make(chan struct{}, o.Requests)
		for range o.Requests {
			s.budget <- struct{}{}
		}
		close(s.budget)
	}
	return s, cctx
}

// take reserves one request from the budget; false when the budget is spent.
func (s *shared) take() bool {
	if s.budget == nil {
		return true
	}
	_, ok := <-s.budget
	return ok
}

func runClosed(ctx context.Context, op Op, o Options) (*Result, error) {
	s, cctx := newShared(ctx, o)
	defer s.cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := new(Histogram)
			var n uint64
			for s.stop.Err() == nil && s.take() {
				t0 := time.Now()
				err := op(cctx, w)
				if err != nil {
					if cctx.Err() != nil {
						break // the run ended under this request
					}
					s.fail(err)
					continue
				}
				h.Record(time.Since(t0))
				n++
			}
			s.merge(h, n)
		}()
	}
	wg.Wait()
	s.res.Elapsed = time.Since(start)
	return &s.res, nil
}

func runOpen(ctx context.Context, op Op, o Options) (*Result, error) {
	s, cctx := newShared(ctx, o)
	defer s.cancel()
	interval := time.Duration(float64(time.Second) / o.Rate)
	// Each scheduled start goes to a free worker; when none is free the start
	// waits in the channel, and its latency still counts from the schedule.
	starts := make(chan time.Time, o.Concurrency*4)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := new(Histogram)
			var n uint64
			for intended := range starts {
				if s.stop.Err() != nil {
					continue // drain
				}
				err := op(cctx, w)
				if err != nil {
					if cctx.Err() == nil {
						s.fail(err)
					}
					continue
				}
				h.Record(time.Since(intended))
				n++
			}
			s.merge(h, n)
		}()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-s.stop.Done():
			case <-timer.C:
			}
		}
		if s.stop.Err() != nil || !s.take() {
			break
		}
		select {
		case starts <- next:
		case <-s.stop.Done():
		}
	}
	close(starts)
	wg.Wait()
	s.res.Elapsed = time.Since(start)
	return &s.res, nil
}
