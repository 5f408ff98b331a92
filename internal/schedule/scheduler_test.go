package schedule_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/schedule"
	"github.com/edgeserverlessbox/esb/internal/schedule/scheduletest"
)

type fires struct {
	mu  sync.Mutex
	got map[string][]time.Time
	ch  chan struct{}
}

func newFires() *fires { return &fires{got: map[string][]time.Time{}, ch: make(chan struct{}, 100)} }

func (f *fires) job(t *testing.T, key, spec, expr string) schedule.Job {
	t.Helper()
	e, err := schedule.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return schedule.Job{Key: key, Spec: spec, Expr: e, Fire: func(_ context.Context, at time.Time) {
		f.mu.Lock()
		f.got[key] = append(f.got[key], at)
		f.mu.Unlock()
		f.ch <- struct{}{}
	}}
}

// wait waits for n fires (real time bound; the clock is fake).
func (f *fires) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-f.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for a fire")
		}
	}
}

func (f *fires) of(key string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got[key])
}

var t0 = time.Date(2024, 1, 1, 12, 3, 0, 0, time.UTC)

func start(t *testing.T, s *schedule.Scheduler) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return cancel
}

func mustTimers(t *testing.T, c *scheduletest.Clock, n int) {
	t.Helper()
	if !c.WaitTimers(n, 5*time.Second) {
		t.Fatalf("want %d armed timers, have %d", n, c.Timers())
	}
}

func TestRateFiresEveryPeriodAndSkipsMissed(t *testing.T) {
	clk := scheduletest.NewClock(t0)
	s := schedule.New(clk, nil)
	f := newFires()
	s.Set([]schedule.Job{f.job(t, "fn/Every", "a", "rate(1 minute)")})
	start(t, s)
	mustTimers(t, clk, 1)
	clk.Advance(59 * time.Second)
	mustTimers(t, clk, 1)
	if n := len(f.of("fn/Every")); n != 0 {
		t.Fatalf("fired %d times before its time", n)
	}
	clk.Advance(time.Second)
	f.wait(t, 1)
	mustTimers(t, clk, 1)
	clk.Advance(time.Minute)
	f.wait(t, 1)
	mustTimers(t, clk, 1)
	// Asleep for 3.5 minutes: one fire, no replay, phase kept (:06, not :06:30).
	clk.Advance(3*time.Minute + 30*time.Second)
	f.wait(t, 1)
	mustTimers(t, clk, 1)
	clk.Advance(29 * time.Second)
	mustTimers(t, clk, 1)
	clk.Advance(time.Second)
	f.wait(t, 1)
	want := []time.Time{t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(3 * time.Minute), t0.Add(6 * time.Minute)}
	if got := f.of("fn/Every"); !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("fires %v, want %v", got, want)
	}
}

func TestCronAndAt(t *testing.T) {
	clk := scheduletest.NewClock(t0)
	s := schedule.New(clk, nil)
	f := newFires()
	start(t, s)
	s.Set([]schedule.Job{
		f.job(t, "fn/Cron", "c", "cron(*/5 * * * ? *)"),
		f.job(t, "fn/Once", "o", "at(2024-01-01T12:06:00)"),
		f.job(t, "fn/Past", "p", "at(2023-01-01T00:00:00)"), // never fires, arms nothing
	})
	mustTimers(t, clk, 2)
	clk.Advance(2 * time.Minute) // 12:05
	f.wait(t, 1)
	clk.Advance(time.Minute) // 12:06
	f.wait(t, 1)
	mustTimers(t, clk, 1) // the at() is done
	clk.Advance(4 * time.Minute)
	f.wait(t, 1)
	if got := f.of("fn/Cron"); len(got) != 2 || !got[0].Equal(t0.Add(2*time.Minute)) || !got[1].Equal(t0.Add(7*time.Minute)) {
		t.Errorf("cron fires %v", got)
	}
	if got := f.of("fn/Once"); len(got) != 1 || !got[0].Equal(t0.Add(3*time.Minute)) {
		t.Errorf("at fires %v", got)
	}
	if got := f.of("fn/Past"); len(got) != 0 {
		t.Errorf("past at() fired: %v", got)
	}
}

func TestSetReconciles(t *testing.T) {
	clk := scheduletest.NewClock(t0)
	s := schedule.New(clk, nil)
	f := newFires()
	s.Set([]schedule.Job{f.job(t, "a", "1", "rate(1 minute)"), f.job(t, "b", "1", "rate(1 minute)")})
	start(t, s)
	mustTimers(t, clk, 2) // Run has started the jobs set before it
	clk.Advance(30 * time.Second)
	started, stopped := s.Set([]schedule.Job{
		f.job(t, "a", "1", "rate(1 minute)"),  // unchanged: keeps its phase
		f.job(t, "b", "2", "rate(2 minutes)"), // changed: restarts now
		f.job(t, "c", "1", "rate(1 minute)"),  // new
	})
	if started != 2 || stopped != 1 {
		t.Fatalf("started %d stopped %d, want 2 and 1", started, stopped)
	}
	mustTimers(t, clk, 3)
	clk.Advance(30 * time.Second) // t0+1m: only a
	f.wait(t, 1)
	mustTimers(t, clk, 3)
	if len(f.of("a")) != 1 || len(f.of("b")) != 0 || len(f.of("c")) != 0 {
		t.Fatalf("after 1m: a %v b %v c %v", f.of("a"), f.of("b"), f.of("c"))
	}
	if k := s.Keys(); len(k) != 3 {
		t.Errorf("keys %v", k)
	}
	// Removing every job stops every timer; nothing fires later.
	if _, stopped := s.Set(nil); stopped != 3 {
		t.Errorf("stopped %d, want 3", stopped)
	}
	mustTimers(t, clk, 0)
	clk.Advance(10 * time.Minute)
	select {
	case <-f.ch:
		t.Error("a removed job fired")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRunEndStopsTimers(t *testing.T) {
	clk := scheduletest.NewClock(t0)
	s := schedule.New(clk, nil)
	f := newFires()
	s.Set([]schedule.Job{f.job(t, "a", "1", "rate(1 minute)")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	mustTimers(t, clk, 1)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if n := clk.Timers(); n != 0 {
		t.Errorf("%d timers left armed", n)
	}
	if n, _ := s.Set([]schedule.Job{f.job(t, "b", "1", "rate(1 minute)")}); n != 0 {
		t.Errorf("Set after Run started %d jobs", n)
	}
}

func TestRealClock(t *testing.T) {
	var c schedule.RealClock
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("real timer did not fire")
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer reported true")
	}
	if d := time.Since(c.Now()); d < 0 || d > time.Second {
		t.Errorf("Now is off by %v", d)
	}
}
