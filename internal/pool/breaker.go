package pool

import (
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int

// Breaker states.
const (
	BreakerClosed   BreakerState = iota // requests pass; failures are counted
	BreakerHalfOpen                     // one trial request passes
	BreakerOpen                         // requests are refused at once
)

// String names the state: closed, half-open or open.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return "unknown"
}

// Breaker is a per-function circuit breaker: Threshold consecutive failures
// open it; after Recovery one trial request passes (half-open); its success
// closes the breaker, its failure opens it again.
type Breaker struct {
	threshold int
	recovery  time.Duration
	clock     Clock

	mu       sync.Mutex
	state    BreakerState
	failures int
	openedAt time.Time
	probing  bool
	// healthy is true while closed with no failure counted: the common case
	// is then answered without the mutex.
	healthy atomic.Bool
}

// NewBreaker returns a closed breaker. A threshold of 0 disables it.
func NewBreaker(threshold int, recovery time.Duration, clock Clock) *Breaker {
	if clock == nil {
		clock = RealClock{}
	}
	b := &Breaker{threshold: threshold, recovery: recovery, clock: clock}
	b.healthy.Store(true)
	return b
}

// Allow tells whether a request may go to the function now. Every true must be
// followed by exactly one Success, Failure or Skip.
func (b *Breaker) Allow() bool {
	if b == nil || b.threshold <= 0 || b.healthy.Load() {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true
	case BreakerOpen:
		if b.clock.Now().Sub(b.openedAt) < b.recovery {
			return false
		}
		b.state = BreakerHalfOpen
		b.probing = true
		return true
	default: // half-open: only the one trial
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
}

// Success records a request that reached the function and succeeded.
func (b *Breaker) Success() {
	if b == nil || b.threshold <= 0 || b.healthy.Load() {
		return
	}
	b.mu.Lock()
	b.failures = 0
	b.state = BreakerClosed
	b.probing = false
	b.healthy.Store(true)
	b.mu.Unlock()
}

// Failure records a failed request (5xx, connection error, timeout, unhandled
// function error).
func (b *Breaker) Failure() {
	if b == nil || b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthy.Store(false)
	b.failures++
	if b.state == BreakerHalfOpen || b.failures >= b.threshold {
		b.state = BreakerOpen
		b.openedAt = b.clock.Now()
		b.probing = false
	}
}

// Skip releases an allowed request that did not reach the function (for
// example it was throttled); it counts neither way.
func (b *Breaker) Skip() {
	if b == nil || b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// State reports the current state (an open breaker whose recovery time has
// passed reports half-open).
func (b *Breaker) State() BreakerState {
	if b == nil || b.threshold <= 0 || b.healthy.Load() {
		return BreakerClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.clock.Now().Sub(b.openedAt) >= b.recovery {
		return BreakerHalfOpen
	}
	return b.state
}
