package rie

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// process is a started runtime as the Sandbox sees it.
type process interface {
	// Pid is the process id (0 when there is none, e.g. in tests).
	Pid() int
	// Done is closed once the process has exited and was reaped.
	Done() <-chan struct{}
	// ExitReason says how it ended ("exit status 1", "signal: killed");
	// valid after Done.
	ExitReason() string
	// Signal sends sig to the runtime's whole process group.
	Signal(sig syscall.Signal)
	// PeakRSS is the process's peak resident set in bytes, from its exit
	// status (0 before Done or when unknown).
	PeakRSS() int64
}

// spawner starts runtime processes.
type spawner interface {
	spawn() (process, error)
}

// execSpawner starts the runtime as a child process in its own process
// group, its stdout and stderr read line by line into the log sink.
type execSpawner struct {
	spec   *launchSpec
	sink   *LogSink
	reaper *reaper // nil: wait for the child directly
}

func (e *execSpawner) spawn() (process, error) {
	argv, err := e.spec.resolve()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runtime stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("runtime stderr pipe: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        argv[0],
		Args:        argv,
		Env:         e.spec.env,
		Dir:         e.spec.dir,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: runtimeProcAttr(),
	}
	p := &execProcess{done: make(chan struct{})}
	if e.reaper != nil {
		err = e.reaper.start(cmd, p.exited)
	} else {
		err = cmd.Start()
	}
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p.pid = cmd.Process.Pid
	for _, pr := range []struct {
		name string
		f    *os.File
	}{{"stdout", outR}, {"stderr", errR}} {
		r, err := newPipeReader(e.sink, pr.name, pr.f)
		if err != nil {
			pr.f.Close()
			continue
		}
		go r.run()
	}
	if e.reaper == nil {
		go func() {
			st, err := cmd.Process.Wait()
			if err != nil {
				p.exited(0, nil, err.Error())
				return
			}
			ws, _ := st.Sys().(syscall.WaitStatus)
			ru, _ := st.SysUsage().(*syscall.Rusage)
			p.exited(ws, ru, "")
		}()
	} else {
		// The reaper waits; release the pidfd os.StartProcess may hold.
		go func() {
			<-p.done
			_ = cmd.Process.Release()
		}()
	}
	return p, nil
}

// execProcess is a child started by execSpawner.
type execProcess struct {
	pid     int
	done    chan struct{}
	reason  string
	peakRSS int64
}

func (p *execProcess) Pid() int              { return p.pid }
func (p *execProcess) Done() <-chan struct{} { return p.done }
func (p *execProcess) ExitReason() string    { return p.reason }
func (p *execProcess) PeakRSS() int64        { return p.peakRSS }

func (p *execProcess) Signal(sig syscall.Signal) {
	if p.pid > 0 {
		_ = syscall.Kill(-p.pid, sig)
	}
}

// exited records the wait status and resource usage; override, when set,
// replaces the description.
func (p *execProcess) exited(ws syscall.WaitStatus, ru *syscall.Rusage, override string) {
	p.reason = override
	if override == "" {
		p.reason = describeWaitStatus(ws)
	}
	if ru != nil {
		p.peakRSS = ru.Maxrss << 10 // Linux reports kilobytes
	}
	close(p.done)
}

// describeWaitStatus words a wait status as Go's os.ProcessState does.
func describeWaitStatus(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "signal: " + ws.Signal().String()
	default:
		return "exited"
	}
}

// reaper waits for every child of esb-rie, as PID 1 of a container must:
// processes the runtime leaves behind are re-parented to esb-rie and would
// stay zombies otherwise. Children esb-rie started itself are handed their
// status; the rest are just reaped.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]func(syscall.WaitStatus, *syscall.Rusage, string)
}

// newReaper returns a reaper; subreaper also marks esb-rie as a child
// subreaper, so orphans are re-parented to it even when it is not PID 1.
func newReaper(subreaper bool) (*reaper, error) {
	if subreaper {
		if err := setChildSubreaper(); err != nil {
			return nil, fmt.Errorf("set child subreaper: %w", err)
		}
	}
	return &reaper{waiters: make(map[int]func(syscall.WaitStatus, *syscall.Rusage, string))}, nil
}

// run reaps on every SIGCHLD (and once a second, in case a signal was
// coalesced away) until ctx ends.
func (r *reaper) run(ctx context.Context) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	r.reap()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		case <-tick.C:
		}
		r.reap()
	}
}

// start starts cmd and registers notify for its exit. The registration
// happens under the same lock reap takes before dispatching, so an exit
// that is reaped before Start returns is still delivered.
func (r *reaper) start(cmd *exec.Cmd, notify func(syscall.WaitStatus, *syscall.Rusage, string)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.waiters[cmd.Process.Pid] = notify
	return nil
}

func (r *reaper) reap() {
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, &ru)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.mu.Lock()
		notify := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if notify != nil {
			notify(ws, &ru, "")
		}
	}
}
