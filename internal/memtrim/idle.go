package memtrim

import (
	"context"
	"runtime/debug"
	"syscall"
	"time"
)

// IdleConfig tunes TrimWhenIdle.
type IdleConfig struct {
	// Quiet is how long the process must stay idle before a trim (default 5 s).
	Quiet time.Duration
	// MaxCPU is the CPU time per second below which the process counts as
	// idle (default 20 ms, 2 %: health checks, heartbeats and timers, not
	// a stream of requests).
	MaxCPU time.Duration
	// Every is how often CPU use is sampled (default 1 s).
	Every time.Duration
	// OnTrim, when set, is told the outcome of each trim.
	OnTrim func(released int64, err error)
}

// TrimWhenIdle runs until ctx ends. Each time the process goes idle after
// being busy (a burst of requests, a scale-down), it waits for cfg.Quiet of
// idleness, returns the freed heap to the system and releases the
// executable's pages again (Release): the pages the burst faulted in leave
// the resident set of an idle daemon. One trim per idle period; the next
// burst faults back what it uses.
func TrimWhenIdle(ctx context.Context, cfg IdleConfig) {
	if cfg.Quiet <= 0 {
		cfg.Quiet = 5 * time.Second
	}
	if cfg.MaxCPU <= 0 {
		cfg.MaxCPU = 20 * time.Millisecond
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	d := idleDetector{quiet: cfg.Quiet, maxCPU: cfg.MaxCPU}
	lastCPU, lastAt := cpuTime(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cpu := cpuTime()
			if d.observe(cpu-lastCPU, now.Sub(lastAt)) {
				debug.FreeOSMemory()
				// After the collection: it walks every stack, touching
				// function tables Release is about to hand back.
				n, err := Release()
				if cfg.OnTrim != nil {
					cfg.OnTrim(n, err)
				}
				cpu = cpuTime() // the trim's own work is not activity
			}
			lastCPU, lastAt = cpu, now
		}
	}
}

// idleDetector decides when to trim from successive CPU samples.
type idleDetector struct {
	quiet, maxCPU time.Duration
	idleFor       time.Duration
	trimmed       bool // already trimmed in this idle period
}

// observe takes the CPU time used over an interval and reports whether to
// trim now.
func (d *idleDetector) observe(used, interval time.Duration) bool {
	if interval <= 0 {
		return false
	}
	if used*time.Second/interval > d.maxCPU {
		d.idleFor, d.trimmed = 0, false
		return false
	}
	d.idleFor += interval
	if d.trimmed || d.idleFor < d.quiet {
		return false
	}
	d.trimmed = true
	return true
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
