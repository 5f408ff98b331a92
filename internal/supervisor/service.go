package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Service describes one daemon the supervisor runs.
type Service struct {
	// Name is the service's name: gateway, agent, dynamodb, s3, victorialogs.
	Name string
	// Path is the executable; Args its arguments (without argv[0]).
	Path string
	// Argv0 is the process's argv[0] (default Path).
	Argv0 string
	Args  []string
	// Env is the complete environment of the process.
	Env []string
	// Addr is what status shows as the service's address.
	Addr string
	// Health answers nil when the service serves. Nil: healthy while running.
	Health func(ctx context.Context) error
	// After names services that must be healthy before this one starts (it
	// starts anyway after StartTimeout, and says why in the log).
	After []string
	// Reload is the signal that makes the service re-read its configuration
	// (0: the service is restarted on reload only when its command changed).
	Reload syscall.Signal
	// Credential, when set, runs the process as that user and group;
	// AmbientCaps are capabilities it keeps (CAP_NET_BIND_SERVICE for :443).
	Credential  *syscall.Credential
	AmbientCaps []uintptr
	// Prepare runs before every start (e.g. to hand directories to the user).
	Prepare func() error
	// Files, when set, opens the files the process inherits as fd 3, 4, …
	// before every start; they are closed once it started.
	Files func() ([]*os.File, error)
	// OnReady runs after every start, once the service is healthy.
	OnReady func()
	// StopTimeout is how long a SIGTERM may take before SIGKILL (default 15 s).
	StopTimeout time.Duration
}

// Service states shown by status.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "restarting"
	StateStopped  = "stopped"
	StateWaiting  = "waiting"
)

// proc is the supervisor's view of one service over its restarts.
type proc struct {
	svc Service
	sup *Supervisor

	mu          sync.Mutex
	state       string
	cmd         *exec.Cmd
	pid         int
	startedAt   time.Time
	healthy     bool
	everHealthy bool
	healthErr   string
	unhealthyAt time.Time
	restarts    int
	lastExit    string
	lastExitAt  time.Time
	nextStart   time.Time
	exited      chan struct{}
	stopping    bool
}

func (p *proc) status() ServiceStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := ServiceStatus{
		Name: p.svc.Name, State: p.state, PID: p.pid, Addr: p.svc.Addr, Healthy: p.healthy,
		Health: p.healthErr, Restarts: p.restarts, LastExit: p.lastExit,
	}
	if !p.startedAt.IsZero() && p.pid != 0 {
		st.StartedAt = p.startedAt
	}
	if !p.lastExitAt.IsZero() {
		st.LastExitAt = p.lastExitAt
	}
	if p.state == StateBackoff {
		st.NextStart = p.nextStart
	}
	return st
}

func (p *proc) isHealthy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.healthy
}

// loop starts the service, waits for it to exit and restarts it with
// backoff until ctx ends.
func (p *proc) loop(ctx context.Context) {
	cfg := &p.sup.cfg
	failures := 0
	for {
		if err := p.sup.waitFor(ctx, p); err != nil {
			return
		}
		started := time.Now()
		err := p.start()
		if err == nil {
			err = p.wait()
		}
		if ctx.Err() != nil || p.isStopping() {
			return
		}
		if time.Since(started) > cfg.StableAfter {
			failures = 0
		}
		failures++
		delay := cfg.MinBackoff << min(failures-1, 16)
		if delay > cfg.MaxBackoff || delay <= 0 {
			delay = cfg.MaxBackoff
		}
		p.mu.Lock()
		p.state, p.nextStart = StateBackoff, time.Now().Add(delay)
		p.restarts++
		p.mu.Unlock()
		p.sup.log.Warn("service stopped unexpectedly; restarting", "service", p.svc.Name, "err", err, "restart_in", delay.String(), "restarts", p.restarts)
		p.sup.changed()
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func (p *proc) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// start launches the process once.
func (p *proc) start() error {
	s := p.svc
	if s.Prepare != nil {
		if err := s.Prepare(); err != nil {
			p.exitedWith(fmt.Sprintf("prepare: %v", err))
			return fmt.Errorf("prepare %s: %w", s.Name, err)
		}
	}
	l := p.sup.cfg.Layout
	out, err := openOutput(l.OutputFile(s.Name))
	if err != nil {
		p.exitedWith(err.Error())
		return err
	}
	defer out.Close()
	cmd := exec.Command(s.Path, s.Args...)
	if s.Argv0 != "" {
		cmd.Args[0] = s.Argv0
	}
	cmd.Env = s.Env
	if s.Files != nil {
		files, err := s.Files()
		if err != nil {
			p.exitedWith(err.Error())
			return fmt.Errorf("open the files of %s: %w", s.Name, err)
		}
		cmd.ExtraFiles = files
		defer func() {
			for _, f := range files {
				f.Close()
			}
		}()
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.Credential, AmbientCaps: s.AmbientCaps}
	fmt.Fprintf(out, "--- esb supervisor: starting %s at %s\n", s.Name, time.Now().UTC().Format(time.RFC3339))
	if err := cmd.Start(); err != nil {
		p.exitedWith(err.Error())
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	p.mu.Lock()
	p.cmd, p.pid, p.startedAt = cmd, cmd.Process.Pid, time.Now()
	p.state, p.healthy, p.everHealthy, p.healthErr = StateStarting, false, false, "starting"
	p.unhealthyAt = time.Time{}
	p.exited = make(chan struct{})
	p.mu.Unlock()
	_ = os.WriteFile(l.PIDFile(s.Name), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	p.sup.log.Info("service started", "service", s.Name, "pid", cmd.Process.Pid)
	p.sup.changed()
	return nil
}

// wait waits for the running process to exit and records how it ended.
func (p *proc) wait() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	err := cmd.Wait()
	how := "exit status 0"
	if err != nil {
		how = err.Error()
	}
	_ = os.Remove(p.sup.cfg.Layout.PIDFile(p.svc.Name))
	p.exitedWith(how)
	close(exited)
	p.sup.changed()
	if err == nil {
		return errors.New("exited with status 0")
	}
	return err
}

func (p *proc) exitedWith(how string) {
	p.mu.Lock()
	p.lastExit, p.lastExitAt = how, time.Now()
	p.pid, p.cmd, p.healthy, p.healthErr = 0, nil, false, how
	p.state = StateStopped
	p.mu.Unlock()
}

// stop sends SIGTERM and waits up to the stop timeout, then SIGKILLs.
func (p *proc) stop() {
	p.mu.Lock()
	p.stopping = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	timeout := p.svc.StopTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		p.sup.log.Warn("service did not stop in time; killing it", "service", p.svc.Name, "timeout", timeout.String())
		_ = cmd.Process.Kill()
		<-exited
	}
}

// signal sends sig to the running process, if any.
func (p *proc) signal(sig syscall.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return false
	}
	return p.cmd.Process.Signal(sig) == nil
}

// check runs the health check of a running process and records the result.
// A service that was healthy and stays unhealthy for hangAfter is killed, so
// the loop restarts it.
func (p *proc) check(ctx context.Context, hangAfter time.Duration) {
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if !running {
		return
	}
	var err error
	if p.svc.Health != nil {
		err = p.svc.Health(ctx)
	}
	p.mu.Lock()
	if p.cmd == nil {
		p.mu.Unlock()
		return
	}
	was := p.healthy
	first := false
	if err == nil {
		p.healthy, p.healthErr, p.state, p.unhealthyAt = true, "", StateRunning, time.Time{}
		first = !p.everHealthy
		p.everHealthy = true
	} else {
		p.healthy, p.healthErr = false, err.Error()
		if p.unhealthyAt.IsZero() {
			p.unhealthyAt = time.Now()
		}
	}
	hung := p.everHealthy && !p.healthy && hangAfter > 0 && time.Since(p.unhealthyAt) > hangAfter
	cmd := p.cmd
	p.mu.Unlock()
	if first && p.svc.OnReady != nil {
		p.svc.OnReady()
	}
	if was != (err == nil) {
		if err == nil {
			p.sup.log.Info("service healthy", "service", p.svc.Name)
		} else {
			p.sup.log.Warn("service unhealthy", "service", p.svc.Name, "err", err)
		}
		p.sup.changed()
	}
	if hung {
		p.sup.log.Error("service unhealthy for too long; killing it to restart", "service", p.svc.Name, "for", hangAfter.String())
		_ = cmd.Process.Kill()
	}
}

// openOutput opens a service's output file for appending, moving a file over
// 10 MiB aside first (one old generation is kept).
func openOutput(path string) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > 10<<20 {
		_ = os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open service output %s: %w", path, err)
	}
	return f, nil
}
