package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors the service returns (wrapped); the gRPC layer maps them to status codes.
var (
	// ErrInvalidArgument marks a request field that is missing or out of range.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrWorkerExited marks a worker that exited before it was ready.
	ErrWorkerExited = errors.New("worker exited before it was ready")
	// ErrReadinessTimeout marks a worker that did not answer within the readiness timeout.
	ErrReadinessTimeout = errors.New("worker not ready in time")
	// ErrCapacity marks a request that would exceed the agent's memory capacity.
	ErrCapacity = errors.New("memory capacity exhausted")
)

// Limits of EnsureContainer's sizes (Lambda's own limits).
const (
	MinMemoryMB   = 128
	MaxMemoryMB   = 10240
	DefaultTmpMB  = 512
	MaxTmpMB      = 10240
	mbPerVCPU     = 1769 // Lambda: 1769 MB of memory buys one full vCPU
	sharesPerVCPU = 1024 // Docker's default share weight
)

// Config is the service's configuration, filled once at start.
type Config struct {
	// Version is esb's version as Info reports it.
	Version string
	// NodeName names this compute node in Info; empty = the host name.
	NodeName string
	// ReadinessTimeout bounds how long EnsureContainer waits for a worker
	// to answer on port 8080 (READINESS_TIMEOUT, default 30 s).
	ReadinessTimeout time.Duration
	// CapacityMemoryMB is the memory the agent may hand out to workers; 0 = unlimited.
	CapacityMemoryMB int64
	// PidsLimit bounds processes+threads per worker (Lambda: 1024); 0 = no limit.
	PidsLimit int64
}

// DefaultConfig returns the configuration defaults.
func DefaultConfig() Config {
	return Config{ReadinessTimeout: 30 * time.Second, PidsLimit: 1024}
}

// Service implements the agent's operations over one Runtime.
type Service struct {
	cfg  Config
	rt   Runtime
	sink LogSink
	log  *slog.Logger

	mu       sync.Mutex
	lastUsed map[string]time.Time
	starting int64 // MB reserved by workers being started
}

// New returns a Service driving rt. Worker output goes to sink (nil = the
// agent's own log through logger).
func New(cfg Config, rt Runtime, sink LogSink, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	if sink == nil {
		sink = SlogSink{Logger: logger}
	}
	if cfg.ReadinessTimeout <= 0 {
		cfg.ReadinessTimeout = DefaultConfig().ReadinessTimeout
	}
	if cfg.NodeName == "" {
		cfg.NodeName, _ = os.Hostname()
	}
	return &Service{cfg: cfg, rt: rt, sink: sink, log: logger, lastUsed: map[string]time.Time{}}
}

// EnsureRequest asks for one new worker.
type EnsureRequest struct {
	Function string
	Project  string
	Image    string
	Env      map[string]string
	MemoryMB int
	TmpMB    int
	Labels   map[string]string
	Command  []string
}

// Worker is a started, ready worker.
type Worker struct {
	ID       string
	Name     string
	IP       string
	Port     int
	Function string
}

// Ensure starts a worker and returns once it answers on port 8080.
func (s *Service) Ensure(ctx context.Context, req EnsureRequest) (Worker, error) {
	spec, err := s.spec(req)
	if err != nil {
		return Worker{}, err
	}
	if err := s.reserve(ctx, req.MemoryMB); err != nil {
		return Worker{}, err
	}
	defer s.release(req.MemoryMB)

	wlog := newWorkerLog(s.sink, req.Function, req.Project)
	t0 := time.Now()
	st, err := s.rt.Start(ctx, spec, wlog.output())
	if err != nil {
		if errors.Is(err, ErrImageNotFound) {
			return Worker{}, fmt.Errorf("start worker for function %s: image %s does not exist in %s; build it with `esb build`: %w",
				req.Function, req.Image, s.rt.Mode(), err)
		}
		return Worker{}, fmt.Errorf("start worker for function %s: %w", req.Function, err)
	}

	tStarted := time.Now()
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ReadinessTimeout)
	err = waitReady(rctx, net.JoinHostPort(st.IP, strconv.Itoa(WorkerPort)), st.Exited)
	cancel()
	if err != nil {
		return Worker{}, s.failStart(ctx, req, st, wlog, err)
	}
	wlog.stopTail()
	s.touch(st.ID)
	s.log.Debug("worker ready", "function", req.Function, "container", st.Name, "start", tStarted.Sub(t0), "ready", time.Since(tStarted))
	return Worker{ID: st.ID, Name: st.Name, IP: st.IP, Port: WorkerPort, Function: req.Function}, nil
}

// failStart removes a worker that did not become ready and explains why,
// with the container's last output.
func (s *Service) failStart(ctx context.Context, req EnsureRequest, st Started, wlog *workerLog, cause error) error {
	var exited errExited
	isExit := errors.As(cause, &exited)
	if isExit {
		wlog.waitDrained(2 * time.Second)
	} else {
		wlog.waitDrained(100 * time.Millisecond)
	}
	tail := formatTail(wlog.lastLines())
	rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	if err := s.rt.Remove(rmCtx, st.ID); err != nil {
		s.log.Warn("remove worker that failed to start", "function", req.Function, "container", st.ID, "err", err)
	}
	cancel()
	switch {
	case isExit:
		return fmt.Errorf("start worker for function %s (container %s, image %s): %w: %v; its last output:\n%s",
			req.Function, st.Name, req.Image, ErrWorkerExited, exited, tail)
	case ctx.Err() != nil:
		return fmt.Errorf("start worker for function %s: %w", req.Function, ctx.Err())
	default:
		return fmt.Errorf("start worker for function %s (container %s, image %s): %w: port %d did not answer within %s (READINESS_TIMEOUT): %v; its last output:\n%s",
			req.Function, st.Name, req.Image, ErrReadinessTimeout, WorkerPort, s.cfg.ReadinessTimeout, cause, tail)
	}
}

// spec validates req and turns it into a container Spec.
func (s *Service) spec(req EnsureRequest) (Spec, error) {
	if req.Function == "" {
		return Spec{}, fmt.Errorf("function is empty; pass the function's name from functions.yml: %w", ErrInvalidArgument)
	}
	if req.Image == "" {
		return Spec{}, fmt.Errorf("image is empty for function %s; pass the function's image (e.g. esb-%s:latest): %w", req.Function, strings.ToLower(req.Function), ErrInvalidArgument)
	}
	if req.MemoryMB < MinMemoryMB || req.MemoryMB > MaxMemoryMB {
		return Spec{}, fmt.Errorf("memory_mb %d for function %s is outside %d..%d (the function's MemorySize): %w", req.MemoryMB, req.Function, MinMemoryMB, MaxMemoryMB, ErrInvalidArgument)
	}
	tmp := req.TmpMB
	if tmp == 0 {
		tmp = DefaultTmpMB
	}
	if tmp < 0 || tmp > MaxTmpMB {
		return Spec{}, fmt.Errorf("tmp_mb %d for function %s is outside 1..%d: %w", req.TmpMB, req.Function, MaxTmpMB, ErrInvalidArgument)
	}
	env := make([]string, 0, len(req.Env))
	for k, v := range req.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return Spec{}, fmt.Errorf("environment variable name %q for function %s is not valid: %w", k, req.Function, ErrInvalidArgument)
		}
		env = append(env, k+"="+v)
	}
	sort.Strings(env)

	labels := make(map[string]string, len(req.Labels)+5)
	for k, v := range req.Labels {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	labels[LabelFunction] = req.Function
	labels[LabelProject] = req.Project
	labels[LabelCreatedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	labels[LabelMemoryMB] = strconv.Itoa(req.MemoryMB)

	return Spec{
		Name:        containerName(req.Project, req.Function),
		Function:    req.Function,
		Project:     req.Project,
		Image:       req.Image,
		Env:         env,
		Command:     req.Command,
		Labels:      labels,
		MemoryBytes: int64(req.MemoryMB) << 20,
		CPUShares:   CPUShares(req.MemoryMB),
		PidsLimit:   s.cfg.PidsLimit,
		TmpBytes:    int64(tmp) << 20,
	}, nil
}

// CPUShares is the CPU weight of a worker with memoryMB of memory: as on
// Lambda, CPU grows with memory, 1769 MB being one vCPU (1024 shares).
func CPUShares(memoryMB int) uint64 {
	shares := uint64(memoryMB) * sharesPerVCPU / mbPerVCPU
	if shares < 2 {
		shares = 2
	}
	return shares
}

// containerName makes a unique, runtime-safe name: esb-<project>-<function>-<random>.
func containerName(project, function string) string {
	var b strings.Builder
	b.WriteString("esb-")
	if project != "" {
		writeSafe(&b, project, 20)
		b.WriteByte('-')
	}
	writeSafe(&b, function, 32)
	var r [4]byte
	_, _ = rand.Read(r[:])
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(r[:]))
	return b.String()
}

// writeSafe writes s lower-cased with runs of other characters as one '-',
// at most max characters, never starting or ending with '-'.
func writeSafe(b *strings.Builder, s string, max int) {
	n, dash := 0, false
	for _, c := range strings.ToLower(s) {
		if n >= max {
			break
		}
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			if dash && n > 0 {
				b.WriteByte('-')
				n++
			}
			b.WriteRune(c)
			n++
			dash = false
		} else {
			dash = true
		}
	}
	if n == 0 {
		b.WriteByte('x')
	}
}

// reserve checks the memory capacity and reserves mb for a starting worker.
func (s *Service) reserve(ctx context.Context, mb int) error {
	if s.cfg.CapacityMemoryMB <= 0 {
		return nil
	}
	cs, err := s.rt.List(ctx, Filter{})
	if err != nil {
		return fmt.Errorf("check memory capacity: %w", err)
	}
	var used int64
	for _, c := range cs {
		if c.State != StateExited {
			used += int64(c.MemoryMB)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if used+s.starting+int64(mb) > s.cfg.CapacityMemoryMB {
		return fmt.Errorf("%d MB requested, %d MB of %d MB in use: %w", mb, used+s.starting, s.cfg.CapacityMemoryMB, ErrCapacity)
	}
	s.starting += int64(mb)
	return nil
}

func (s *Service) release(mb int) {
	if s.cfg.CapacityMemoryMB <= 0 {
		return
	}
	s.mu.Lock()
	s.starting -= int64(mb)
	s.mu.Unlock()
}

func (s *Service) touch(id string) {
	s.mu.Lock()
	s.lastUsed[id] = time.Now()
	s.mu.Unlock()
}

// Destroy stops and removes a worker; one that is already gone is not an error.
func (s *Service) Destroy(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("id is empty; pass a container id from EnsureContainer or ListContainers: %w", ErrInvalidArgument)
	}
	err := s.rt.Remove(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("destroy container %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.lastUsed, id)
	s.mu.Unlock()
	return nil
}

// Summary is a listed worker with its last use.
type Summary struct {
	Container
	Port       int
	LastUsedAt time.Time
}

// List reports every worker with esb's labels matching f.
func (s *Service) List(ctx context.Context, f Filter) ([]Summary, error) {
	cs, err := s.rt.List(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Summary, len(cs))
	s.mu.Lock()
	for i, c := range cs {
		last, ok := s.lastUsed[c.ID]
		if !ok {
			last = c.CreatedAt
		}
		out[i] = Summary{Container: c, Port: WorkerPort, LastUsedAt: last}
	}
	s.mu.Unlock()
	return out, nil
}

// Pause freezes a worker.
func (s *Service) Pause(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("id is empty: %w", ErrInvalidArgument)
	}
	if err := s.rt.Pause(ctx, id); err != nil {
		return fmt.Errorf("pause container %s: %w", id, err)
	}
	return nil
}

// Resume thaws a paused worker.
func (s *Service) Resume(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("id is empty: %w", ErrInvalidArgument)
	}
	if err := s.rt.Resume(ctx, id); err != nil {
		return fmt.Errorf("resume container %s: %w", id, err)
	}
	s.touch(id)
	return nil
}

// Metrics reports one worker's resource usage, or every worker's when id is empty.
func (s *Service) Metrics(ctx context.Context, id string) ([]Metrics, error) {
	if id != "" {
		m, err := s.rt.Metrics(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("metrics of container %s: %w", id, err)
		}
		return []Metrics{m}, nil
	}
	cs, err := s.rt.List(ctx, Filter{})
	if err != nil {
		return nil, fmt.Errorf("list containers for metrics: %w", err)
	}
	out := make([]Metrics, 0, len(cs))
	for _, c := range cs {
		m, err := s.rt.Metrics(ctx, c.ID)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("metrics of container %s: %w", c.ID, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Health reports whether the runtime answers.
func (s *Service) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.rt.Version(ctx); err != nil {
		return fmt.Errorf("%s: %w", s.rt.Mode(), err)
	}
	return nil
}

// Info describes the agent.
type Info struct {
	Mode             string
	Version          string
	RuntimeVersion   string
	CapacityMemoryMB int64
	Containers       int
	NodeName         string
}

// Info reports mode, versions, capacity and the number of running workers.
func (s *Service) Info(ctx context.Context) (Info, error) {
	v, err := s.rt.Version(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("%s version: %w", s.rt.Mode(), err)
	}
	cs, err := s.rt.List(ctx, Filter{})
	if err != nil {
		return Info{}, fmt.Errorf("list containers: %w", err)
	}
	n := 0
	for _, c := range cs {
		if c.State == StateRunning || c.State == StatePaused {
			n++
		}
	}
	return Info{Mode: s.rt.Mode(), Version: s.cfg.Version, RuntimeVersion: v,
		CapacityMemoryMB: s.cfg.CapacityMemoryMB, Containers: n, NodeName: s.cfg.NodeName}, nil
}

// Recover resumes streaming the output of the workers that run already
// (after an agent restart) and returns how many it found.
func (s *Service) Recover(ctx context.Context) (int, error) {
	cs, err := s.rt.List(ctx, Filter{})
	if err != nil {
		return 0, fmt.Errorf("list containers to recover: %w", err)
	}
	for _, c := range cs {
		if c.State != StateRunning && c.State != StatePaused {
			continue
		}
		wlog := newWorkerLog(s.sink, c.Function, c.Project)
		wlog.stopTail()
		wlog.setID(c.ID) // before Attach streams anything
		if err := s.rt.Attach(ctx, c.ID, wlog.output()); err != nil {
			s.log.Warn("cannot resume streaming worker output", "function", c.Function, "container", c.ID, "err", err)
		}
	}
	return len(cs), nil
}
