// Package pool keeps one pool of workers (function containers) per function:
// warm reuse, cold starts through the agent up to a maximum capacity, a fair
// FIFO wait when the pool is full, eviction of failed workers, scale-to-zero
// and orphan reconciliation by a janitor, optional pause of idle workers, and a
// circuit breaker per function.
//
// A worker serves one invoke at a time: Acquire hands it out, Release gives it
// back (or evicts it when the invoke failed).
package pool

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
)

// Agent is the part of the agent's gRPC client that pools use.
// agentv1.AgentServiceClient satisfies it.
type Agent interface {
	EnsureContainer(ctx context.Context, in *agentv1.EnsureContainerRequest, opts ...grpc.CallOption) (*agentv1.EnsureContainerResponse, error)
	DestroyContainer(ctx context.Context, in *agentv1.DestroyContainerRequest, opts ...grpc.CallOption) (*agentv1.DestroyContainerResponse, error)
	ListContainers(ctx context.Context, in *agentv1.ListContainersRequest, opts ...grpc.CallOption) (*agentv1.ListContainersResponse, error)
	PauseContainer(ctx context.Context, in *agentv1.PauseContainerRequest, opts ...grpc.CallOption) (*agentv1.PauseContainerResponse, error)
	ResumeContainer(ctx context.Context, in *agentv1.ResumeContainerRequest, opts ...grpc.CallOption) (*agentv1.ResumeContainerResponse, error)
}

// Errors of Acquire.
var (
	// ErrThrottled: no worker became free within the acquire timeout (429).
	ErrThrottled = errors.New("concurrency limit reached: no worker became free in time")
	// ErrDisabled: the function's maximum capacity is 0 (ReservedConcurrentExecutions: 0).
	ErrDisabled = errors.New("function is disabled (reserved concurrency 0)")
	// ErrAgentUnavailable: the agent cannot be reached (503).
	ErrAgentUnavailable = errors.New("agent unavailable")
	// ErrStartFailed: the agent could not start a worker (502).
	ErrStartFailed = errors.New("worker start failed")
	// ErrClosed: the pool is shutting down or the function was removed.
	ErrClosed = errors.New("pool closed")
)

// Spec is what a pool needs to start a function's workers.
type Spec struct {
	Function       string
	Image          string
	Env            map[string]string
	MemoryMB       int
	TimeoutSeconds int
	TmpMB          int
	Command        []string
	Labels         map[string]string
	// MaxCapacity bounds the number of workers (0 disables the function).
	MaxCapacity int
	// MinCapacity workers are started at boot and kept warm.
	MinCapacity int
}

func (s Spec) sameWorkers(o Spec) bool {
	return s.Image == o.Image && s.MemoryMB == o.MemoryMB && s.TimeoutSeconds == o.TimeoutSeconds &&
		s.TmpMB == o.TmpMB && maps.Equal(s.Env, o.Env) && maps.Equal(s.Labels, o.Labels) &&
		fmt.Sprint(s.Command) == fmt.Sprint(o.Command)
}

// Config configures a Manager.
type Config struct {
	// Project is the esb.project label of the containers this gateway owns.
	Project string
	// AcquireTimeout is how long a request waits for a worker when the pool is full.
	AcquireTimeout time.Duration
	// IdleTimeout: idle workers older than this are removed down to MinCapacity.
	IdleTimeout time.Duration
	// HeartbeatInterval is the janitor's period.
	HeartbeatInterval time.Duration
	// OrphanGrace protects containers younger than this from orphan removal.
	OrphanGrace time.Duration
	// PauseIdle pauses workers idle for this long (0 = never pause).
	PauseIdle time.Duration
	// StartTimeout bounds one EnsureContainer call.
	StartTimeout time.Duration
	// BreakerThreshold consecutive failures open a function's breaker (0 = off);
	// BreakerRecovery later one trial request passes.
	BreakerThreshold int
	BreakerRecovery  time.Duration

	Clock  Clock
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.AcquireTimeout <= 0 {
		c.AcquireTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 300 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 30 * time.Second
	}
	if c.OrphanGrace <= 0 {
		c.OrphanGrace = 60 * time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Worker is one running function container.
type Worker struct {
	// ID is the container id; Name its name.
	ID, Name string
	// Function is the function the worker runs.
	Function string
	// Addr is ip:port of the worker's invoke endpoint.
	Addr string
	// URL is the worker's invoke URL.
	URL string

	created time.Time
	// guarded by the pool's mutex
	lastUsed time.Time
	paused   bool
	stale    bool // started from an older Spec; not reused
	uses     uint64
}

// Uses reports how many invokes the worker has served before this one.
func (w *Worker) Uses() uint64 { return w.uses }

// Stats is a snapshot of a pool, for metrics and /health. Idle, Busy and
// Paused workers add up to the pool's size.
type Stats struct {
	Function                                 string
	Max, Min                                 int
	Idle, Busy, Starting, Paused, Waiting    int
	ColdStarts, Evictions, Throttles, Starts uint64
	StartFailures                            uint64
	Breaker                                  BreakerState
}

// Manager owns the pools of all functions.
type Manager struct {
	cfg   Config
	agent Agent
	log   *slog.Logger

	mu     sync.RWMutex
	pools  map[string]*Pool
	closed bool

	destroying       inflight
	pauseUnsupported atomic.Bool
}

// inflight counts background destroys; unlike sync.WaitGroup it may be waited
// on while new work is added.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (f *inflight) Add(d int) {
	f.mu.Lock()
	f.n += d
	if f.n == 0 && f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
	f.mu.Unlock()
}

func (f *inflight) Done() { f.Add(-1) }

// wait returns a channel closed when no destroy is in flight.
func (f *inflight) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if f.zero == nil {
		f.zero = make(chan struct{})
	}
	return f.zero
}

// NewManager returns a manager without pools; Sync creates them.
func NewManager(cfg Config, agent Agent) *Manager {
	cfg.defaults()
	return &Manager{cfg: cfg, agent: agent, log: cfg.Logger, pools: map[string]*Pool{}}
}

// Pool returns the pool of a function, or nil.
func (m *Manager) Pool(function string) *Pool {
	m.mu.RLock()
	p := m.pools[function]
	m.mu.RUnlock()
	return p
}

// Sync makes the set of pools match specs: new functions get a pool, changed
// ones get the new spec (workers of an older image are replaced as they come
// back), removed ones are closed and their workers destroyed.
func (m *Manager) Sync(specs map[string]Spec) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	var removed []*Pool
	for name, p := range m.pools {
		if _, ok := specs[name]; !ok {
			removed = append(removed, p)
			delete(m.pools, name)
		}
	}
	var changed []*Pool
	for name, s := range specs {
		s.Function = name
		if p := m.pools[name]; p != nil {
			p.update(s)
			changed = append(changed, p)
			continue
		}
		m.pools[name] = newPool(m, s)
	}
	m.mu.Unlock()
	for _, p := range removed {
		p.close()
	}
	for _, p := range changed {
		p.trim()
	}
}

// Pools returns the current pools.
func (m *Manager) Pools() []*Pool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Pool, 0, len(m.pools))
	for _, p := range m.pools {
		out = append(out, p)
	}
	return out
}

// Stats returns a snapshot of every pool.
func (m *Manager) Stats() []Stats {
	ps := m.Pools()
	out := make([]Stats, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Stats())
	}
	return out
}

// classify turns an agent error into ErrAgentUnavailable or ErrStartFailed.
func classify(err error, what string) error {
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.Canceled:
			return fmt.Errorf("%w: %s: %s", ErrAgentUnavailable, what, st.Message())
		case codes.DeadlineExceeded:
			return fmt.Errorf("%w: %s: timed out", ErrStartFailed, what)
		}
		return fmt.Errorf("%w: %s: %s", ErrStartFailed, what, st.Message())
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%w: %s: %v", ErrAgentUnavailable, what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrStartFailed, what, err)
}

func (m *Manager) destroy(id, why string) {
	m.destroying.Add(1)
	m.destroyCounted(id, why)
}

// destroyCounted destroys a container whose destroy was already counted in
// m.destroying (callers count it under the pool lock, so that Shutdown never
// sees a worker neither in a pool nor being destroyed).
func (m *Manager) destroyCounted(id, why string) {
	go func() {
		defer m.destroying.Done()
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StartTimeout)
		defer cancel()
		if _, err := m.agent.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: id}); err != nil {
			m.log.Warn("destroy worker", "container", id, "reason", why, "err", err)
			return
		}
		m.log.Debug("destroyed worker", "container", id, "reason", why)
	}()
}

// waiter is a request queued for a worker.
type waiter struct {
	ch      chan grant
	granted bool
}

// grant is what a waiter receives: a worker, the right to start one, or an error.
type grant struct {
	w     *Worker
	start bool
	err   error
}

// Pool is the worker pool of one function.
type Pool struct {
	m       *Manager
	breaker *Breaker

	mu       sync.Mutex
	spec     Spec
	idle     []*Worker // least recently used first
	workers  map[string]*Worker
	starting int
	pausing  int
	waiters  list.List // of *waiter, FIFO
	closed   bool

	coldStarts, evictions, throttles, starts, startFailures atomic.Uint64
}

func newPool(m *Manager, s Spec) *Pool {
	return &Pool{
		m: m, spec: s, workers: map[string]*Worker{},
		breaker: NewBreaker(m.cfg.BreakerThreshold, m.cfg.BreakerRecovery, m.cfg.Clock),
	}
}

// Function returns the pool's function name.
func (p *Pool) Function() string { return p.spec.Function }

// Breaker returns the function's circuit breaker.
func (p *Pool) Breaker() *Breaker { return p.breaker }

// Spec returns the pool's current spec.
func (p *Pool) Spec() Spec {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spec
}

// Stats returns a snapshot of the pool.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	st := Stats{
		Function: p.spec.Function, Max: p.spec.MaxCapacity, Min: p.spec.MinCapacity,
		Idle: len(p.idle), Busy: len(p.workers) - len(p.idle) - p.pausing, Starting: p.starting,
		Waiting: p.waiters.Len(),
	}
	for _, w := range p.idle {
		if w.paused {
			st.Paused++
		}
	}
	st.Idle -= st.Paused
	st.Paused += p.pausing
	p.mu.Unlock()
	st.ColdStarts = p.coldStarts.Load()
	st.Evictions = p.evictions.Load()
	st.Throttles = p.throttles.Load()
	st.Starts = p.starts.Load()
	st.StartFailures = p.startFailures.Load()
	st.Breaker = p.breaker.State()
	return st
}

// Acquire returns a worker for one invoke: an idle one (warm), else a new one
// if capacity allows (cold, reported by the bool), else it waits in FIFO order
// up to the acquire timeout and then fails with ErrThrottled.
func (p *Pool) Acquire(ctx context.Context) (*Worker, bool, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, ErrClosed
	}
	if p.spec.MaxCapacity <= 0 {
		p.mu.Unlock()
		p.throttles.Add(1)
		return nil, false, ErrDisabled
	}
	if p.waiters.Len() == 0 {
		if n := len(p.idle); n > 0 {
			w := p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return p.ready(ctx, w)
		}
		if len(p.workers)+p.starting < p.spec.MaxCapacity {
			p.starting++
			p.mu.Unlock()
			return p.start(ctx)
		}
	}
	wt := &waiter{ch: make(chan grant, 1)}
	el := p.waiters.PushBack(wt)
	p.mu.Unlock()

	timer := p.m.cfg.Clock.NewTimer(p.m.cfg.AcquireTimeout)
	defer timer.Stop()
	var why error
	select {
	case g := <-wt.ch:
		return p.take(ctx, g)
	case <-timer.C():
		why = ErrThrottled
	case <-ctx.Done():
		why = ctx.Err()
	}
	p.mu.Lock()
	if !wt.granted {
		p.waiters.Remove(el)
		p.mu.Unlock()
		if why == ErrThrottled {
			p.throttles.Add(1)
		}
		return nil, false, why
	}
	p.mu.Unlock()
	g := <-wt.ch // granted just as we gave up: use it, or hand it on
	if ctx.Err() != nil {
		p.handBack(g)
		return nil, false, ctx.Err()
	}
	return p.take(ctx, g)
}

func (p *Pool) take(ctx context.Context, g grant) (*Worker, bool, error) {
	switch {
	case g.err != nil:
		return nil, false, g.err
	case g.w != nil:
		return p.ready(ctx, g.w)
	default:
		return p.start(ctx)
	}
}

// handBack returns a grant that its waiter no longer wants.
func (p *Pool) handBack(g grant) {
	switch {
	case g.w != nil:
		p.Release(g.w, true)
	case g.start:
		p.mu.Lock()
		p.starting--
		p.grantCapacityLocked()
		p.mu.Unlock()
	}
}

// ready resumes a paused worker before handing it out.
func (p *Pool) ready(ctx context.Context, w *Worker) (*Worker, bool, error) {
	p.mu.Lock()
	paused := w.paused
	p.mu.Unlock()
	if paused {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.m.cfg.StartTimeout)
		_, err := p.m.agent.ResumeContainer(rctx, &agentv1.ResumeContainerRequest{Id: w.ID})
		cancel()
		if err != nil {
			p.Release(w, false)
			return nil, false, classify(err, "resume worker "+w.ID)
		}
		p.mu.Lock()
		w.paused = false
		p.mu.Unlock()
	}
	return w, false, nil
}

type startResult struct {
	w   *Worker
	err error
}

// start starts a worker for the caller (p.starting was incremented for it).
// If the caller gives up, the worker still joins the pool.
func (p *Pool) start(ctx context.Context) (*Worker, bool, error) {
	res := make(chan startResult, 1)
	go func() {
		w, err := p.ensure()
		res <- startResult{w, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			return nil, false, r.err
		}
		p.coldStarts.Add(1)
		return r.w, true, nil
	case <-ctx.Done():
		go func() {
			if r := <-res; r.err == nil {
				p.Release(r.w, true)
			}
		}()
		return nil, false, ctx.Err()
	}
}

// ensure asks the agent for a new worker; the worker is returned busy.
func (p *Pool) ensure() (*Worker, error) {
	p.mu.Lock()
	s := p.spec
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.m.cfg.StartTimeout)
	defer cancel()
	p.starts.Add(1)
	resp, err := p.m.agent.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
		Function: s.Function, Image: s.Image, Env: s.Env, MemoryMb: int32(s.MemoryMB),
		TimeoutSeconds: int32(s.TimeoutSeconds), Labels: s.Labels, Project: p.m.cfg.Project,
		TmpMb: int32(s.TmpMB), Command: s.Command,
	})
	var w *Worker
	if err == nil {
		wi := resp.GetWorker()
		if wi == nil || wi.GetId() == "" || wi.GetIp() == "" {
			err = fmt.Errorf("agent returned no worker address")
			if wi.GetId() != "" {
				p.m.destroy(wi.GetId(), "no address")
			}
		} else {
			port := int(wi.GetPort())
			if port == 0 {
				port = 8080
			}
			addr := net.JoinHostPort(wi.GetIp(), strconv.Itoa(port))
			now := p.m.cfg.Clock.Now()
			w = &Worker{
				ID: wi.GetId(), Name: wi.GetName(), Function: s.Function, Addr: addr,
				URL: "http://" + addr + "/2015-03-31/functions/function/invocations", created: now, lastUsed: now,
			}
		}
	}
	p.mu.Lock()
	p.starting--
	if err != nil {
		p.startFailures.Add(1)
		p.grantCapacityLocked()
		p.mu.Unlock()
		err = classify(err, "start worker for "+s.Function)
		p.m.log.Warn("worker start failed", "function", s.Function, "err", err)
		return nil, err
	}
	if p.closed {
		p.m.destroying.Add(1)
		p.mu.Unlock()
		p.m.destroyCounted(w.ID, "pool closed")
		return nil, ErrClosed
	}
	p.workers[w.ID] = w
	p.mu.Unlock()
	p.m.log.Info("worker started", "function", s.Function, "container", w.ID, "addr", w.Addr)
	return w, nil
}

// grantCapacityLocked gives free capacity to waiters as start rights.
func (p *Pool) grantCapacityLocked() {
	for p.waiters.Len() > 0 && len(p.workers)+p.starting < p.spec.MaxCapacity {
		wt := p.waiters.Remove(p.waiters.Front()).(*waiter)
		wt.granted = true
		p.starting++
		wt.ch <- grant{start: true}
	}
}

// Release gives a worker back after an invoke. healthy=false evicts it: it is
// destroyed and never reused (connection error, crash, timeout).
func (p *Pool) Release(w *Worker, healthy bool) {
	p.mu.Lock()
	if _, ok := p.workers[w.ID]; !ok {
		p.mu.Unlock()
		return
	}
	now := p.m.cfg.Clock.Now()
	w.lastUsed = now
	w.uses++
	if !healthy || p.closed || w.stale || len(p.workers) > p.spec.MaxCapacity {
		delete(p.workers, w.ID)
		p.m.destroying.Add(1)
		p.grantCapacityLocked()
		p.mu.Unlock()
		p.evictions.Add(1)
		why := "released by a failed invoke"
		if healthy {
			why = "pool shrunk or closed"
		}
		p.m.destroyCounted(w.ID, why)
		return
	}
	p.putBackLocked(w)
	p.mu.Unlock()
}

func (p *Pool) putBackLocked(w *Worker) {
	if el := p.waiters.Front(); el != nil {
		wt := p.waiters.Remove(el).(*waiter)
		wt.granted = true
		wt.ch <- grant{w: w}
		return
	}
	p.idle = append(p.idle, w)
}

func (p *Pool) update(s Spec) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.spec.sameWorkers(s) {
		for _, w := range p.workers {
			w.stale = true
		}
	}
	p.spec = s
	p.grantCapacityLocked()
}

// trim destroys idle workers that are stale or above capacity.
func (p *Pool) trim() {
	p.mu.Lock()
	var victims []*Worker
	keep := p.idle[:0]
	for _, w := range p.idle {
		if w.stale || len(p.workers) > p.spec.MaxCapacity {
			victims = append(victims, w)
			delete(p.workers, w.ID)
			continue
		}
		keep = append(keep, w)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, w := range victims {
		p.evictions.Add(1)
		p.m.destroy(w.ID, "spec changed or capacity lowered")
	}
}

// close rejects waiters and destroys idle workers; busy ones are destroyed when
// they are released.
func (p *Pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for p.waiters.Len() > 0 {
		wt := p.waiters.Remove(p.waiters.Front()).(*waiter)
		wt.granted = true
		wt.ch <- grant{err: ErrClosed}
	}
	victims := p.idle
	p.idle = nil
	for _, w := range victims {
		delete(p.workers, w.ID)
	}
	p.mu.Unlock()
	for _, w := range victims {
		p.m.destroy(w.ID, "pool closed")
	}
}

func (p *Pool) busyCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.workers) + p.starting
}

// workerIDs returns the ids of the pool's live workers.
func (p *Pool) workerIDs(into map[string]*Pool) {
	p.mu.Lock()
	for id := range p.workers {
		into[id] = p
	}
	p.mu.Unlock()
}
