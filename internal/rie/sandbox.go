package rie

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Payload limits, as AWS's.
const (
	// MaxRequestBytes is the largest invoke payload (6 MiB).
	MaxRequestBytes = 6291456
	// MaxResponseBytes is the largest response a runtime may post
	// (6 MiB + 100 B, AWS's figure).
	MaxResponseBytes = 6291556
)

// Error kinds, sent as X-Esb-Error-Kind with X-Amz-Function-Error.
const (
	KindFunction = "function" // the runtime posted /error
	KindTimeout  = "timeout"  // the invoke ran past its deadline
	KindExit     = "exit"     // the runtime exited during the invoke
	KindInit     = "init"     // the runtime failed to initialise
	KindOversize = "oversize" // the response was over MaxResponseBytes
)

// Errors Invoke returns before an invoke starts.
var (
	// ErrBusy: another invoke is in flight (one at a time, as on Lambda).
	ErrBusy = errors.New("an invoke is already in progress in this execution environment")
	// ErrShuttingDown: esb-rie received SIGTERM.
	ErrShuttingDown = errors.New("the execution environment is shutting down")
)

// errInvalidRequestID: /response or /error named an id that is not the
// invoke in flight.
var errInvalidRequestID = errors.New("invalid request ID")

// stateError is a Runtime API call the runtime's state does not allow,
// reported as AWS does (403 InvalidStateTransition).
type stateError struct {
	from State
	to   string
}

func (e *stateError) Error() string {
	return "State transition from " + e.from.apiName() + " to " + e.to +
		" failed for runtime. Error: State transition is not allowed"
}

// invokeRequest is one invoke, as the invoke endpoint decoded it.
type invokeRequest struct {
	requestID       string
	traceID         string
	clientContext   string // decoded JSON
	cognitoIdentity string
	functionARN     string
	deadline        time.Time // caller's absolute deadline; zero: none
	tail            bool
	payload         []byte
}

// result is an invoke's outcome.
type result struct {
	payload      []byte
	errorKind    string // "" on success
	errorType    string // for REPORT's Error Type
	duration     time.Duration
	initDuration time.Duration
	logTail      []byte
	buf          *[]byte // pooled buffer behind payload, if any
}

type invPhase uint8

const (
	phaseQueued    invPhase = iota // waiting for the runtime's /next
	phaseDelivered                 // the runtime has the event
	phaseResulted                  // a result is set and done is closed
)

// invocation is an invoke in flight.
type invocation struct {
	req         *invokeRequest
	submitted   time.Time
	delivered   time.Time
	resulted    time.Time
	deadline    time.Time
	gen         *generation
	timer       *time.Timer
	phase       invPhase
	startLogged bool
	finished    bool           // END and REPORT are out
	sending     sync.WaitGroup // /next is writing req.payload
	done        chan struct{}
	res         result
	tail        *tailBuffer
}

// generation is one runtime process and what belongs to it.
type generation struct {
	proc      process
	started   time.Time
	initDur   time.Duration // measured at the first /next; taken by the first invoke
	initTimer *time.Timer
	wake      chan struct{} // tells the /next waiter an invoke is queued
}

// initFailure is why the last init failed, reported to every invoke until
// an init succeeds.
type initFailure struct {
	errorType string
	body      []byte // as the runtime posted it to /init/error; nil: built from message
	message   string
}

func (f *initFailure) bodyFor(requestID string) []byte {
	if f.body != nil {
		return f.body
	}
	return platformErrorBody(f.errorType, requestID, f.message)
}

// sandbox runs one function's runtime and serves its invokes one at a time:
// it owns the state machine, the runtime process and the invoke in flight.
type sandbox struct {
	cfg   *Config
	logs  *LogSink
	log   *slog.Logger
	spawn spawner
	mem   *memoryMeter
	now   func() time.Time
	bufs  sync.Pool

	runtimeID string // for INIT_START

	slot chan struct{} // capacity 1: held by the invoke in flight

	// finishing is set while the slot's holder has its result and is
	// printing END and REPORT; completed is signalled (with mu held) when
	// it has freed the slot.
	finishing bool
	completed sync.Cond

	mu       sync.Mutex
	m        machine
	gen      *generation
	pending  *invocation // submitted, not yet delivered
	current  *invocation // delivered, runtime not yet back in /next
	initErr  *initFailure
	draining bool
	// restartAfter: the runtime died with this invoke (timeout or crash);
	// the next one starts once the invoke's END and REPORT are out.
	restartAfter *invocation
}

func newSandbox(cfg *Config, logs *LogSink, log *slog.Logger, sp spawner, mem *memoryMeter, runtimeID string) *sandbox {
	s := &sandbox{
		cfg: cfg, logs: logs, log: log, spawn: sp, mem: mem, now: time.Now,
		runtimeID: runtimeID,
		slot:      make(chan struct{}, 1),
	}
	s.completed.L = &s.mu
	s.bufs.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	return s
}

// getBuf and putBuf recycle payload buffers; very large ones are dropped.
func (s *sandbox) getBuf() *[]byte { return s.bufs.Get().(*[]byte) }

func (s *sandbox) putBuf(b *[]byte) {
	if b != nil && cap(*b) <= 1<<20 {
		*b = (*b)[:0]
		s.bufs.Put(b)
	}
}

// state returns the runtime's current state.
func (s *sandbox) state() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.state
}

// start begins the first init right away, so a cold invoke finds the
// runtime (nearly) ready.
func (s *sandbox) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m.state == StateIdle && !s.draining {
		s.startLocked()
	}
}

// invoke runs one invoke to completion, END and REPORT included. It
// returns ErrBusy when another invoke is in flight and ErrShuttingDown
// after SIGTERM; every other failure is a result with an error kind.
func (s *sandbox) invoke(req *invokeRequest) (*result, error) {
	inv, res, err := s.run(req)
	if err != nil {
		return nil, err
	}
	s.complete(inv, res)
	return res, nil
}

// run runs one invoke up to its result, which the caller can send at once;
// complete then prints END and REPORT and frees the slot. Until complete
// returns, the next invoke waits for it rather than getting ErrBusy.
func (s *sandbox) run(req *invokeRequest) (*invocation, *result, error) {
	if err := s.acquire(); err != nil {
		return nil, nil, err
	}
	inv := &invocation{req: req, done: make(chan struct{}), submitted: s.now()}
	if req.tail {
		inv.tail = new(tailBuffer)
	}
	s.mu.Lock()
	if s.draining || s.m.state == StateShutdown {
		s.mu.Unlock()
		<-s.slot
		return nil, nil, ErrShuttingDown
	}
	s.submitLocked(inv)
	s.mu.Unlock()

	<-inv.done
	inv.sending.Wait()
	res := inv.res
	if inv.delivered.IsZero() {
		res.duration = inv.resulted.Sub(inv.submitted)
	} else {
		res.duration = inv.resulted.Sub(inv.delivered)
	}
	s.mu.Lock()
	s.finishing = true
	s.mu.Unlock()
	return inv, &res, nil
}

// acquire takes the invoke slot. An invoke whose result is out and that
// is only printing END and REPORT is waited for (a caller that got its
// response and invokes again is not concurrent); any other holder means
// ErrBusy.
func (s *sandbox) acquire() error {
	for {
		select {
		case s.slot <- struct{}{}:
			return nil
		default:
		}
		s.mu.Lock()
		if !s.finishing {
			// complete frees the slot under mu: if it did so since the
			// select above, try again rather than refuse.
			free := len(s.slot) < cap(s.slot)
			s.mu.Unlock()
			if free {
				continue
			}
			return ErrBusy
		}
		for s.finishing {
			s.completed.Wait()
		}
		s.mu.Unlock()
	}
}

// busy reports whether an invoke would get ErrBusy now (to refuse before
// reading a request body).
func (s *sandbox) busy() bool {
	if len(s.slot) < cap(s.slot) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Look at the slot again under mu: complete clears finishing and frees
	// the slot together, so a slot seen full before it ran is free now.
	return len(s.slot) == cap(s.slot) && !s.finishing
}

// submitLocked queues inv for the runtime, starting one if none runs.
func (s *sandbox) submitLocked(inv *invocation) {
	switch s.m.state {
	case StateIdle, StateInitError:
		s.startLocked()
		if s.m.state == StateInitError {
			s.failInitLocked(inv)
			return
		}
	}
	s.pending = inv
	if d := inv.req.deadline; !d.IsZero() {
		inv.timer = time.AfterFunc(d.Sub(inv.submitted), func() { s.expire(inv) })
	}
	if s.m.state == StateReady {
		s.wakeLocked()
	}
}

func (s *sandbox) wakeLocked() {
	if s.gen != nil {
		select {
		case s.gen.wake <- struct{}{}:
		default:
		}
	}
}

// startLocked starts a runtime process: idle/init-error → init, or
// → init-error at once when it cannot be started.
func (s *sandbox) startLocked() {
	if err := s.m.startInit(); err != nil {
		s.log.Error("start runtime", "err", err)
		return
	}
	now := s.now()
	s.logs.platform(typeInit, "info", "INIT_START Runtime Version: "+s.runtimeID)
	proc, err := s.spawn.spawn()
	if err != nil {
		s.gen = nil
		f := &initFailure{errorType: "Runtime.InvalidEntrypoint", message: err.Error()}
		s.initFailedLocked(f, now)
		return
	}
	gen := &generation{proc: proc, started: now, wake: make(chan struct{}, 1)}
	s.gen = gen
	gen.initTimer = time.AfterFunc(s.cfg.InitTimeout, func() { s.initTimedOut(gen) })
	go s.watch(gen)
}

// initFailedLocked moves to init-error, tells the queued invoke and logs
// INIT_REPORT. The caller kills the runtime if it still runs.
func (s *sandbox) initFailedLocked(f *initFailure, started time.Time) {
	if err := s.m.initFailed(); err != nil {
		s.log.Error("init failed", "err", err)
	}
	s.initErr = f
	if g := s.gen; g != nil && g.initTimer != nil {
		g.initTimer.Stop()
	}
	s.logs.platform(typeInit, "error", "INIT_REPORT Init Duration: "+formatMS(s.now().Sub(started))+
		" ms\tPhase: init\tStatus: error\tError Type: "+f.errorType)
	if inv := s.pending; inv != nil {
		s.pending = nil
		s.failInitLocked(inv)
	}
}

// failInitLocked ends inv with the last init failure.
func (s *sandbox) failInitLocked(inv *invocation) {
	f := s.initErr
	if f == nil {
		f = &initFailure{errorType: "Runtime.Unknown", message: "init failed"}
	}
	s.setResultLocked(inv, result{payload: f.bodyFor(inv.req.requestID), errorKind: KindInit, errorType: f.errorType})
}

// setResultLocked ends inv; invoke (waiting on done) finishes it.
func (s *sandbox) setResultLocked(inv *invocation, r result) {
	if inv.phase == phaseResulted {
		return
	}
	inv.res = r
	inv.phase = phaseResulted
	inv.resulted = s.now()
	close(inv.done)
}

// next is the runtime's GET /next: it records init-done or the end of the
// previous invoke and waits for an invoke to hand over.
func (s *sandbox) next(ctx context.Context) (*invocation, error) {
	s.mu.Lock()
	gen := s.gen
	switch s.m.state {
	case StateInit:
		_ = s.m.initDone()
		gen.initTimer.Stop()
		gen.initDur = s.now().Sub(gen.started)
		s.initErr = nil
	case StateResponded:
		_ = s.m.next()
		if cur := s.current; cur != nil {
			cur.timer.Stop()
			s.current = nil
		}
	case StateReady:
		// A second waiter (the runtime retried /next): fine.
	default:
		st := s.m.state
		s.mu.Unlock()
		return nil, &stateError{from: st, to: "Ready"}
	}
	for {
		if s.gen != gen || s.m.state != StateReady {
			st := s.m.state
			s.mu.Unlock()
			return nil, &stateError{from: st, to: "Ready"}
		}
		if inv := s.pending; inv != nil {
			s.deliverLocked(inv)
			s.mu.Unlock()
			return inv, nil
		}
		s.mu.Unlock()
		select {
		case <-gen.wake:
		case <-gen.proc.Done():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
	}
}

// deliverLocked hands the queued invoke to the runtime: ready → invoking.
func (s *sandbox) deliverLocked(inv *invocation) {
	_ = s.m.deliver()
	now := s.now()
	s.pending = nil
	s.current = inv
	inv.phase = phaseDelivered
	inv.delivered = now
	inv.gen = s.gen
	inv.deadline = now.Add(s.cfg.Timeout)
	if d := inv.req.deadline; !d.IsZero() && d.Before(inv.deadline) {
		inv.deadline = d
	}
	if inv.timer != nil {
		inv.timer.Reset(inv.deadline.Sub(now))
	} else {
		inv.timer = time.AfterFunc(inv.deadline.Sub(now), func() { s.expire(inv) })
	}
	if s.gen.initDur > 0 {
		inv.res.initDuration = s.gen.initDur
		s.gen.initDur = 0
	}
	inv.sending.Add(1)
	inv.startLogged = true
	s.logs.beginInvoke(inv.req.requestID, inv.req.traceID, s.cfg.FunctionVersion, inv.tail)
}

// checkResult answers whether a /response or /error for id would be
// accepted now (to refuse before reading a large body).
func (s *sandbox) checkResult(id, target string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkResultLocked(id, target)
}

func (s *sandbox) checkResultLocked(id, target string) error {
	if s.m.state != StateInvoking {
		return &stateError{from: s.m.state, to: target}
	}
	if s.current == nil || s.current.req.requestID != id {
		return errInvalidRequestID
	}
	return nil
}

// respond records the runtime's result for id: invoking → responded. buf
// backs r.payload and passes to the invoke (or back to the pool on error).
func (s *sandbox) respond(id, target string, r result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkResultLocked(id, target); err != nil {
		s.putBuf(r.buf)
		return err
	}
	_ = s.m.respond()
	inv := s.current
	r.initDuration = inv.res.initDuration
	s.setResultLocked(inv, r)
	return nil
}

// initError is the runtime's POST /init/error: init → init-error. It
// returns the process to kill once the runtime has its answer.
func (s *sandbox) initError(errorType string, body []byte) (process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m.state != StateInit {
		return nil, &stateError{from: s.m.state, to: "InitError"}
	}
	if errorType == "" {
		errorType = "Runtime.Unknown"
	}
	gen := s.gen
	if len(body) == 0 {
		body = nil
	}
	s.initFailedLocked(&initFailure{errorType: errorType, body: body, message: "Runtime failed to initialize"}, gen.started)
	s.gen = nil
	return gen.proc, nil
}

// initTimedOut ends an init that ran past InitTimeout.
func (s *sandbox) initTimedOut(gen *generation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen || s.m.state != StateInit {
		return
	}
	s.initFailedLocked(&initFailure{errorType: "Sandbox.Timedout",
		message: "Runtime init timed out after " + formatSeconds(s.cfg.InitTimeout) + " seconds"}, gen.started)
	s.gen = nil
	gen.proc.Signal(syscall.SIGKILL)
}

// expire is an invoke's timer: the caller's deadline passed while queued,
// or the function's deadline passed before the runtime came back to /next.
func (s *sandbox) expire(inv *invocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch inv.phase {
	case phaseQueued:
		if s.pending != inv || now.Before(inv.req.deadline) {
			return
		}
		s.pending = nil
		msg := timedOutMessage(now.Sub(inv.submitted))
		s.setResultLocked(inv, result{payload: platformErrorBody("Sandbox.Timedout", inv.req.requestID, msg),
			errorKind: KindTimeout})
	case phaseDelivered, phaseResulted:
		if s.current != inv || now.Before(inv.deadline) {
			return
		}
		if err := s.m.timeout(); err != nil {
			return
		}
		msg := timedOutMessage(inv.deadline.Sub(inv.delivered))
		s.logs.platformFor(inv.req.requestID, inv.req.traceID, typeError, "error",
			now.UTC().Format("2006-01-02T15:04:05.000Z")+" "+inv.req.requestID+" "+msg)
		s.setResultLocked(inv, result{payload: platformErrorBody("Sandbox.Timedout", inv.req.requestID, msg),
			errorKind: KindTimeout, initDuration: inv.res.initDuration})
		if s.gen != nil {
			s.gen.proc.Signal(syscall.SIGKILL)
		}
	}
}

// watch waits for a runtime process to end and moves the state machine on.
func (s *sandbox) watch(gen *generation) {
	<-gen.proc.Done()
	// Whatever it left behind in its process group goes too.
	gen.proc.Signal(syscall.SIGKILL)
	reason := gen.proc.ExitReason()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return // already written off (init error, init timeout, shutdown)
	}
	s.gen = nil
	gen.initTimer.Stop()
	restart := false
	var diedWith *invocation // the invoke the runtime died with, if any
	switch s.m.state {
	case StateInit:
		s.initFailedLocked(&initFailure{errorType: "Runtime.ExitError", message: exitMessage(reason)}, gen.started)
	case StateInvoking:
		_ = s.m.crash()
		inv := s.current
		diedWith = inv
		s.current = nil
		inv.timer.Stop()
		s.logs.platformFor(inv.req.requestID, inv.req.traceID, typeError, "error",
			"RequestId: "+inv.req.requestID+" Error: "+exitMessage(reason))
		s.setResultLocked(inv, result{
			payload:      platformErrorBody("Runtime.ExitError", inv.req.requestID, exitMessage(reason)),
			errorKind:    KindExit,
			errorType:    "Runtime.ExitError",
			initDuration: inv.res.initDuration,
		})
		_ = s.m.exited()
		restart = true
	case StateTimeout:
		diedWith = s.current
		s.current = nil
		_ = s.m.exited()
		restart = true
	case StateReady, StateResponded:
		if cur := s.current; cur != nil {
			cur.timer.Stop()
			s.current = nil
		}
		s.log.Warn("runtime exited between invokes", "reason", reason)
		_ = s.m.exited()
		restart = s.pending != nil
	}
	if !restart {
		return
	}
	if s.draining {
		if inv := s.pending; inv != nil {
			s.pending = nil
			s.setResultLocked(inv, result{payload: platformErrorBody("Runtime.ExitError", inv.req.requestID, exitMessage(reason)),
				errorKind: KindExit, errorType: "Runtime.ExitError"})
		}
		return
	}
	// After a timeout or crash AWS starts a fresh runtime for the next
	// invoke; starting it early overlaps its init with the caller's think
	// time. A queued invoke needs it now; otherwise wait for the dead
	// invoke's END and REPORT, so INIT_START follows them in the log.
	if s.pending == nil && diedWith != nil && !diedWith.finished {
		s.restartAfter = diedWith
		return
	}
	s.startLocked()
}

// complete prints END and REPORT for an invoke run returned (res is its
// result; the log tail goes into it) and frees the slot for the next.
func (s *sandbox) complete(inv *invocation, res *result) {
	if inv.timer != nil && inv.delivered.IsZero() {
		inv.timer.Stop() // the caller's deadline of an invoke that never ran
	}

	s.mu.Lock()
	if !inv.startLogged {
		inv.startLogged = true
		s.logs.beginInvoke(inv.req.requestID, inv.req.traceID, s.cfg.FunctionVersion, inv.tail)
	}
	var proc process
	if inv.gen != nil {
		proc = inv.gen.proc
	}
	maxMB := s.mem.maxUsedMB(proc)
	s.mu.Unlock()

	rep := reportLine{
		requestID:    inv.req.requestID,
		duration:     res.duration,
		memoryMB:     s.cfg.MemoryMB,
		maxMemoryMB:  maxMB,
		initDuration: res.initDuration,
	}
	switch res.errorKind {
	case KindTimeout:
		rep.status = "timeout"
	case KindExit, KindInit, KindOversize:
		rep.status, rep.errorType = "error", res.errorType
	}
	s.logs.endInvoke(&rep)
	if inv.tail != nil {
		res.logTail = inv.tail.bytes()
	}

	s.mu.Lock()
	inv.finished = true
	if s.restartAfter == inv {
		s.restartAfter = nil
		if s.m.state == StateIdle && !s.draining {
			s.startLocked()
		}
	}
	// Free the slot under mu, so a waiter that sees finishing cleared
	// finds the slot free (unless a third invoke took it first).
	s.finishing = false
	<-s.slot
	s.completed.Broadcast()
	s.mu.Unlock()
}

// drain stops new invokes and waits (up to ctx) for the one in flight.
// After it returns the slot is held for good.
func (s *sandbox) drain(ctx context.Context) {
	s.mu.Lock()
	already := s.draining
	s.draining = true
	s.mu.Unlock()
	if already {
		return
	}
	select {
	case s.slot <- struct{}{}:
		return
	default:
	}
	select {
	case s.slot <- struct{}{}:
		return
	case <-ctx.Done():
	}
	// Out of time: end the runtime; the invoke in flight ends with
	// Runtime.ExitError, which frees the slot.
	s.mu.Lock()
	if s.gen != nil {
		s.gen.proc.Signal(syscall.SIGKILL)
	}
	s.mu.Unlock()
	select {
	case s.slot <- struct{}{}:
	case <-time.After(2 * time.Second):
	}
}

// stop ends the runtime for good: SIGTERM to its process group, then
// SIGKILL after grace.
func (s *sandbox) stop(grace time.Duration) {
	s.mu.Lock()
	gen := s.gen
	s.gen = nil
	_ = s.m.stop()
	if inv := s.pending; inv != nil {
		s.pending = nil
		s.setResultLocked(inv, result{payload: platformErrorBody("Runtime.ExitError", inv.req.requestID,
			"Runtime exited with error: sandbox shutting down"), errorKind: KindExit, errorType: "Runtime.ExitError"})
	}
	s.mu.Unlock()
	if gen == nil {
		return
	}
	gen.initTimer.Stop()
	gen.proc.Signal(syscall.SIGTERM)
	select {
	case <-gen.proc.Done():
	case <-time.After(grace):
		gen.proc.Signal(syscall.SIGKILL)
		select {
		case <-gen.proc.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// formatMS prints a duration in milliseconds with two decimals.
func formatMS(d time.Duration) string {
	return strconv.FormatFloat(ms(d), 'f', 2, 64)
}

// formatSeconds prints a duration in seconds with two decimals.
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
}
