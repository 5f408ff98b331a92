package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// Config is what a supervisor runs and how.
type Config struct {
	// Layout is the project's state directory.
	Layout Layout
	// Services are started in order, each once its After services are healthy.
	Services []Service
	// Info is shown by status (project, mode, endpoints …).
	Info map[string]string
	// Logger receives the supervisor's own records.
	Logger *slog.Logger

	// HealthInterval is the period of health checks (default 1 s).
	HealthInterval time.Duration
	// MinBackoff and MaxBackoff bound the delay before a restart (defaults
	// 250 ms and 30 s); the delay doubles with each failure in a row.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a service must run for its failures to be
	// forgotten (default 30 s).
	StableAfter time.Duration
	// StartTimeout bounds the wait for a service's After services (default 30 s).
	StartTimeout time.Duration
	// HangAfter is how long a service that was healthy may stay unhealthy
	// before it is killed and restarted (default 60 s; negative: never).
	HangAfter time.Duration
}

func (c *Config) defaults() {
	if c.HealthInterval <= 0 {
		c.HealthInterval = time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.StableAfter <= 0 {
		c.StableAfter = 30 * time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.HangAfter == 0 {
		c.HangAfter = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// Supervisor runs the services of one project.
type Supervisor struct {
	cfg   Config
	log   *slog.Logger
	procs []*proc
	byNam map[string]*proc
	start time.Time

	stopOnce sync.Once
	stopReq  chan struct{}
	dirty    chan struct{}
}

// New makes a supervisor; Run starts it.
func New(cfg Config) (*Supervisor, error) {
	cfg.defaults()
	s := &Supervisor{cfg: cfg, log: cfg.Logger, byNam: map[string]*proc{}, stopReq: make(chan struct{}), dirty: make(chan struct{}, 1)}
	for _, svc := range cfg.Services {
		if svc.Name == "" || svc.Path == "" {
			return nil, fmt.Errorf("supervisor: service %q has no name or path", svc.Name)
		}
		if s.byNam[svc.Name] != nil {
			return nil, fmt.Errorf("supervisor: service %s listed twice", svc.Name)
		}
		p := &proc{svc: svc, sup: s, state: StateWaiting}
		s.procs = append(s.procs, p)
		s.byNam[svc.Name] = p
	}
	for _, p := range s.procs {
		for _, dep := range p.svc.After {
			if s.byNam[dep] == nil {
				return nil, fmt.Errorf("supervisor: service %s waits for unknown service %s", p.svc.Name, dep)
			}
		}
	}
	return s, nil
}

// ErrRunning is returned by Run when another supervisor holds the project.
var ErrRunning = errors.New("a supervisor is already running for this project")

// Run takes the project's supervisor lock, starts every service, serves the
// control socket, and returns when ctx ends or a stop is requested, after
// stopping every service. ready (may be nil) is called once everything was
// started and the control socket listens.
func (s *Supervisor) Run(ctx context.Context, ready func()) error {
	l := s.cfg.Layout
	if err := l.Ensure(); err != nil {
		return err
	}
	// A short wait: Held (status checks) takes the lock for an instant.
	lock, err := WaitLock(ctx, l.SupervisorLock(), time.Second, nil)
	if err != nil {
		_, holder := Held(l.SupervisorLock())
		return fmt.Errorf("%w (pid %d)", ErrRunning, holder)
	}
	defer lock.Unlock()
	s.start = time.Now()

	_ = os.Remove(l.Socket()) // we hold the lock: any socket left is stale
	ln, err := net.Listen("unix", l.Socket())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", l.Socket(), err)
	}
	_ = os.Chmod(l.Socket(), 0o600)
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		_ = srv.Close()
		_ = os.Remove(l.Socket())
		_ = os.Remove(l.StateFile())
	}()

	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range s.procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.loop(runCtx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.healthLoop(runCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.stateLoop(runCtx) }()
	s.log.Info("supervisor started", "pid", os.Getpid(), "state", l.Root, "services", len(s.procs))
	if ready != nil {
		ready()
	}

	select {
	case <-ctx.Done():
	case <-s.stopReq:
	}
	s.log.Info("stopping services")
	s.stopAll()
	cancel()
	wg.Wait()
	s.log.Info("supervisor stopped")
	return nil
}

// Stop asks Run to stop every service and return.
func (s *Supervisor) Stop() {
	s.stopOnce.Do(func() { close(s.stopReq) })
}

// stopAll stops services that others depend on last: first those nobody
// waits for (the gateway, which drains requests and removes its workers
// through the agent), then the rest together.
func (s *Supervisor) stopAll() {
	needed := map[string]bool{}
	for _, p := range s.procs {
		for _, d := range p.svc.After {
			needed[d] = true
		}
	}
	var first, rest []*proc
	for _, p := range s.procs {
		p.mu.Lock()
		p.stopping = true
		p.mu.Unlock()
		if needed[p.svc.Name] {
			rest = append(rest, p)
		} else {
			first = append(first, p)
		}
	}
	for _, group := range [][]*proc{first, rest} {
		var wg sync.WaitGroup
		for _, p := range group {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop() }()
		}
		wg.Wait()
	}
}

// waitFor blocks until p's After services are healthy, StartTimeout passes
// (then p starts anyway), or ctx ends (error).
func (s *Supervisor) waitFor(ctx context.Context, p *proc) error {
	if len(p.svc.After) == 0 {
		return ctx.Err()
	}
	deadline := time.Now().Add(s.cfg.StartTimeout)
	for {
		ok := true
		for _, d := range p.svc.After {
			if !s.byNam[d].isHealthy() {
				ok = false
			}
		}
		if ok {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			s.log.Warn("starting before its dependencies are healthy", "service", p.svc.Name, "after", p.svc.After)
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// healthLoop checks every running service. Until all are healthy it checks
// every 20 ms, so `esb up --wait` does not wait a whole interval.
func (s *Supervisor) healthLoop(ctx context.Context) {
	for {
		var wg sync.WaitGroup
		all := true
		for _, p := range s.procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				p.check(cctx, s.cfg.HangAfter)
			}()
		}
		wg.Wait()
		for _, p := range s.procs {
			if !p.isHealthy() {
				all = false
			}
		}
		wait := s.cfg.HealthInterval
		if !all {
			wait = 20 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// changed notes that the status changed (the state file is rewritten).
func (s *Supervisor) changed() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// stateLoop keeps the state file current; a removed or damaged file is
// rewritten within a few seconds.
func (s *Supervisor) stateLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
		case <-t.C:
			if _, err := ReadStateFile(s.cfg.Layout); err == nil {
				continue
			}
		}
		data, _ := json.MarshalIndent(s.Status(), "", "  ")
		if err := manifest.WriteFileAtomic(s.cfg.Layout.StateFile(), append(data, '\n'), 0o600); err != nil {
			s.log.Warn("write state file", "err", err)
		}
	}
}

// Status is the supervisor's report.
type Status struct {
	PID       int               `json:"pid"`
	StartedAt time.Time         `json:"started_at"`
	Info      map[string]string `json:"info,omitempty"`
	Services  []ServiceStatus   `json:"services"`
}

// ServiceStatus is one service's line of the report.
type ServiceStatus struct {
	Name       string    `json:"name"`
	State      string    `json:"state"`
	PID        int       `json:"pid,omitempty"`
	Addr       string    `json:"addr,omitempty"`
	Healthy    bool      `json:"healthy"`
	Health     string    `json:"health,omitempty"`
	Restarts   int       `json:"restarts"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	LastExit   string    `json:"last_exit,omitempty"`
	LastExitAt time.Time `json:"last_exit_at,omitzero"`
	NextStart  time.Time `json:"next_start,omitzero"`
}

// Status reports every service.
func (s *Supervisor) Status() Status {
	st := Status{PID: os.Getpid(), StartedAt: s.start, Info: s.cfg.Info}
	for _, p := range s.procs {
		st.Services = append(st.Services, p.status())
	}
	return st
}

// Reload sends each service its reload signal.
func (s *Supervisor) Reload() []string {
	var done []string
	for _, p := range s.procs {
		if p.svc.Reload != 0 && p.signal(p.svc.Reload) {
			done = append(done, p.svc.Name)
		}
	}
	s.log.Info("reloaded", "services", done)
	return done
}

// Restart stops one service; its loop starts it again at once.
func (s *Supervisor) Restart(name string) error {
	p := s.byNam[name]
	if p == nil {
		return fmt.Errorf("no service %s", name)
	}
	if !p.signal(syscall.SIGTERM) {
		return fmt.Errorf("service %s is not running", name)
	}
	return nil
}

func (s *Supervisor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Status())
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"reloaded": s.Reload()})
	})
	mux.HandleFunc("POST /v1/restart/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Restart(r.PathValue("name")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		s.Stop()
	})
	return mux
}

// ReadStateFile reads the state file the supervisor keeps.
func ReadStateFile(l Layout) (Status, error) {
	var st Status
	data, err := os.ReadFile(l.StateFile())
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("state file %s is damaged: %w", l.StateFile(), err)
	}
	return st, nil
}
