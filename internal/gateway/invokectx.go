package gateway

import (
	"context"
	"sync"
	"time"
)

// invokeCtx is the context of one worker invoke: the caller's values, no
// cancellation by the caller (a client that goes away does not cut an invoke
// short) and a deadline. It is pooled with its timer and channel, so an
// invoke creates no context, timer or channel; context.AfterFunc on it
// (as the worker client does) uses its AfterFunc method.
//
// It must not be used after release.
type invokeCtx struct {
	parent   context.Context
	deadline time.Time
	timer    *time.Timer
	stopFn   func() bool

	mu     sync.Mutex
	done   chan struct{}
	closed bool // done is closed
	err    error
	armed  bool   // in use and not yet expired
	fn     func() // registered by AfterFunc, not yet run or stopped
}

var invokeCtxPool = sync.Pool{New: func() any {
	c := &invokeCtx{done: make(chan struct{})}
	c.timer = time.AfterFunc(time.Hour, c.fire)
	c.timer.Stop()
	c.stopFn = c.stop
	return c
}}

// newInvokeCtx returns a context with parent's values that ends at deadline.
func newInvokeCtx(parent context.Context, deadline time.Time) *invokeCtx {
	c := invokeCtxPool.Get().(*invokeCtx)
	c.mu.Lock()
	c.parent, c.deadline, c.err, c.fn, c.armed = parent, deadline, nil, nil, true
	if c.closed {
		c.done, c.closed = make(chan struct{}), false
	}
	c.mu.Unlock()
	c.timer.Reset(time.Until(deadline))
	return c
}

// release stops the timer and returns c to the pool.
func (c *invokeCtx) release() {
	c.mu.Lock()
	c.armed, c.fn, c.parent = false, nil, nil
	c.mu.Unlock()
	c.timer.Stop()
	invokeCtxPool.Put(c)
}

// fire ends the context at its deadline. A late run of the timer of an
// earlier use finds the context disarmed, or its deadline still ahead.
func (c *invokeCtx) fire() {
	c.mu.Lock()
	if !c.armed || time.Now().Before(c.deadline) {
		c.mu.Unlock()
		return
	}
	c.armed = false
	c.err = context.DeadlineExceeded
	close(c.done)
	c.closed = true
	f := c.fn
	c.fn = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

func (c *invokeCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *invokeCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *invokeCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *invokeCtx) Value(key any) any { return c.parent.Value(key) }

// AfterFunc runs f (in a goroutine of its own) when the context ends; stop
// unregisters it. One registration is served without allocating.
func (c *invokeCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	switch {
	case c.err != nil:
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	case c.fn == nil:
		c.fn = f // fire runs it in the timer's own goroutine
		c.mu.Unlock()
		return c.stopFn
	}
	// A second registration: watch done in a goroutine.
	done := c.done
	c.mu.Unlock()
	quit := make(chan struct{})
	ran := make(chan bool, 1)
	go func() {
		select {
		case <-done:
			ran <- true
			f()
		case <-quit:
			ran <- false
		}
	}()
	var once sync.Once
	return func() bool {
		stopped := false
		once.Do(func() { close(quit); stopped = !<-ran })
		return stopped
	}
}

func (c *invokeCtx) stop() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	had := c.fn != nil
	c.fn = nil
	return had
}
