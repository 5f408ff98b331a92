package invokeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Event is one queued asynchronous invocation.
type Event struct {
	ID        string    `json:"id"`
	Function  string    `json:"function"`
	Qualifier string    `json:"qualifier,omitempty"`
	Payload   []byte    `json:"payload"`
	TraceID   string    `json:"trace_id,omitempty"`
	Enqueued  time.Time `json:"enqueued"`
	// Attempts counts the runs that reached the function.
	Attempts int `json:"attempts"`
	// Retries counts throttle/system-error retries.
	Retries int `json:"retries"`
}

// Outcome is the result of running an event.
type Outcome int

// Outcomes of a run.
const (
	// Done: the function ran and succeeded, or the event cannot ever run
	// (function removed).
	Done Outcome = iota
	// FunctionError: the function ran and failed (incl. timeout); retried up
	// to RetryDelays times.
	FunctionError
	// Retry: throttled or a system error; retried with backoff until MaxAge.
	Retry
)

// Runner runs one event.
type Runner func(ctx context.Context, ev *Event) Outcome

// QueueConfig configures a Queue.
type QueueConfig struct {
	// Capacity bounds the events queued or waiting for a retry.
	Capacity int
	// Workers run events concurrently.
	Workers int
	// SpoolDir, when set, keeps every queued event as a file until it is done,
	// so a restart resumes them.
	SpoolDir string
	// RetryDelays are the waits before the retries after a function error
	// (AWS: 1 and 2 minutes; empty = no retry).
	RetryDelays []time.Duration
	// MaxAge drops events older than this (AWS: 6 hours).
	MaxAge time.Duration
	// MaxBackoff caps the backoff of throttle retries (AWS: 5 minutes).
	MaxBackoff time.Duration
	Logger     *slog.Logger
}

// ErrQueueFull is returned by Enqueue when Capacity events are pending.
var ErrQueueFull = errors.New("asynchronous invocation queue is full")

// Queue is a bounded queue of asynchronous invocations with AWS's retry policy.
type Queue struct {
	cfg QueueConfig
	run Runner
	log *slog.Logger
	ch  chan *Event

	mu      sync.Mutex
	pending int
	wg      sync.WaitGroup
}

// NewQueue makes a queue and loads events left in the spool directory.
func NewQueue(cfg QueueConfig, run Runner) (*Queue, error) {
	if cfg.Capacity <= 0 {
		cfg.Capacity = 1000
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 6 * time.Hour
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{cfg: cfg, run: run, log: cfg.Logger}
	var left []*Event
	if cfg.SpoolDir != "" {
		if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
			return nil, fmt.Errorf("async queue spool: %w", err)
		}
		entries, err := os.ReadDir(cfg.SpoolDir)
		if err != nil {
			return nil, fmt.Errorf("async queue spool: %w", err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			p := filepath.Join(cfg.SpoolDir, e.Name())
			data, err := os.ReadFile(p)
			var ev Event
			if err == nil {
				err = json.Unmarshal(data, &ev)
			}
			if err != nil || ev.ID == "" {
				q.log.Warn("dropping unreadable queued event", "file", p, "err", err)
				os.Remove(p)
				continue
			}
			left = append(left, &ev)
		}
	}
	size := cfg.Capacity
	if len(left) > size {
		size = len(left)
	}
	q.ch = make(chan *Event, size)
	for _, ev := range left {
		q.pending++
		q.ch <- ev
	}
	if len(left) > 0 {
		q.log.Info("resuming queued asynchronous invocations", "count", len(left))
	}
	return q, nil
}

// Len reports the events queued or waiting for a retry.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending
}

// Enqueue accepts an event (and spools it), or fails with ErrQueueFull.
func (q *Queue) Enqueue(ev *Event) error {
	q.mu.Lock()
	if q.pending >= q.cfg.Capacity {
		q.mu.Unlock()
		return ErrQueueFull
	}
	q.pending++
	q.mu.Unlock()
	if err := q.spool(ev); err != nil {
		q.done(ev, false)
		return err
	}
	q.ch <- ev // never blocks: pending ≤ capacity ≤ cap(ch)
	return nil
}

func (q *Queue) spool(ev *Event) error {
	if q.cfg.SpoolDir == "" {
		return nil
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("queue event: %w", err)
	}
	p := filepath.Join(q.cfg.SpoolDir, ev.ID+".json")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("queue event: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("queue event: %w", err)
	}
	return nil
}

func (q *Queue) done(ev *Event, unspool bool) {
	if unspool && q.cfg.SpoolDir != "" {
		os.Remove(filepath.Join(q.cfg.SpoolDir, ev.ID+".json"))
	}
	q.mu.Lock()
	q.pending--
	q.mu.Unlock()
}

// Run processes events until ctx ends.
func (q *Queue) Run(ctx context.Context) {
	for range q.cfg.Workers {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-q.ch:
					q.process(ctx, ev)
				}
			}
		}()
	}
	<-ctx.Done()
	q.wg.Wait()
}

func (q *Queue) process(ctx context.Context, ev *Event) {
	if time.Since(ev.Enqueued) > q.cfg.MaxAge {
		q.log.Warn("dropping asynchronous invocation older than the maximum event age", "function", ev.Function, "request_id", ev.ID)
		q.done(ev, true)
		return
	}
	out := q.run(ctx, ev)
	if ctx.Err() != nil {
		return // shutting down: the spooled copy resumes it
	}
	var delay time.Duration
	switch out {
	case Done:
		q.done(ev, true)
		return
	case FunctionError:
		ev.Attempts++
		if ev.Attempts > len(q.cfg.RetryDelays) {
			q.log.Warn("asynchronous invocation failed after all retries", "function", ev.Function, "request_id", ev.ID, "attempts", ev.Attempts)
			q.done(ev, true)
			return
		}
		delay = q.cfg.RetryDelays[ev.Attempts-1]
	case Retry:
		ev.Retries++
		delay = time.Second << min(ev.Retries-1, 20)
		if delay > q.cfg.MaxBackoff {
			delay = q.cfg.MaxBackoff
		}
	}
	q.spool(ev)
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			q.ch <- ev
		}
	}()
}
