package schedule

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Clock is the time source of a Scheduler (a fake in tests).
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of time.Timer the scheduler uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// Job is one schedule to run.
type Job struct {
	// Key identifies the job across Set calls ("function/event").
	Key string
	// Spec is compared across Set calls: a job whose Key and Spec are
	// unchanged keeps running (a rate keeps its phase); a changed Spec
	// restarts it.
	Spec string
	// Expr is when it fires.
	Expr *Expr
	// Fire is called in the job's own goroutine with the scheduled time; it
	// should return quickly (hand the work to a queue).
	Fire func(ctx context.Context, at time.Time)
}

// Scheduler runs jobs on timers until its Run context ends. Missed fires
// (the process was stopped, the machine slept) are not replayed, as on AWS:
// after a late wake-up a job fires once and continues with its next time
// after now.
type Scheduler struct {
	clock Clock
	log   *slog.Logger

	mu      sync.Mutex
	ctx     context.Context // set by Run; nil before, done after
	jobs    map[string]*running
	pending []Job
	wg      sync.WaitGroup
}

type running struct {
	job    Job
	cancel context.CancelFunc
}

// New makes a scheduler; nil clock is the wall clock, nil log discards.
func New(clock Clock, log *slog.Logger) *Scheduler {
	if clock == nil {
		clock = RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{clock: clock, log: log, jobs: map[string]*running{}}
}

// Run starts the jobs and blocks until ctx ends, then stops every timer and
// waits for the job goroutines.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	jobs := s.pending
	s.pending = nil
	s.mu.Unlock()
	if jobs != nil {
		s.Set(jobs)
	}
	<-ctx.Done()
	s.mu.Lock()
	for k, r := range s.jobs {
		r.cancel()
		delete(s.jobs, k)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Set reconciles the running jobs with jobs: new keys start, missing keys
// stop, changed specs restart, unchanged ones keep running. Before Run it
// records the jobs for Run to start; after Run has ended it does nothing.
// It returns how many jobs were started and stopped.
func (s *Scheduler) Set(jobs []Job) (started, stopped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		s.pending = append([]Job(nil), jobs...)
		if s.pending == nil {
			s.pending = []Job{}
		}
		return 0, 0
	}
	if s.ctx.Err() != nil {
		return 0, 0
	}
	want := make(map[string]Job, len(jobs))
	for _, j := range jobs {
		want[j.Key] = j
	}
	for k, r := range s.jobs {
		if j, ok := want[k]; !ok || j.Spec != r.job.Spec {
			r.cancel()
			delete(s.jobs, k)
			stopped++
		}
	}
	for k, j := range want {
		if _, ok := s.jobs[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(s.ctx)
		s.jobs[k] = &running{job: j, cancel: cancel}
		start := s.clock.Now()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.loop(ctx, j, start)
		}()
		started++
	}
	return started, stopped
}

// Keys returns the keys of the running jobs.
func (s *Scheduler) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.jobs))
	for k := range s.jobs {
		out = append(out, k)
	}
	return out
}

// loop waits for each fire time of one job and calls Fire.
func (s *Scheduler) loop(ctx context.Context, j Job, start time.Time) {
	next := j.Expr.Next(start)
	for !next.IsZero() {
		t := s.clock.NewTimer(next.Sub(s.clock.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if ctx.Err() != nil { // stopped while the timer fired
			return
		}
		j.Fire(ctx, next)
		now := s.clock.Now()
		prev := next
		next = j.Expr.Next(prev)
		if !next.IsZero() && !next.After(now) {
			// Woke up late: skip the missed fires, keep a rate's phase.
			if every := j.Expr.Every(); every > 0 {
				next = prev.Add((now.Sub(prev)/every + 1) * every)
			} else {
				next = j.Expr.Next(now)
			}
		}
	}
	s.log.Debug("schedule has no more fire times", "job", j.Key, "schedule", j.Expr.String())
}
