package rie

import "fmt"

// State is where the runtime process stands in its life. The Sandbox keeps
// exactly one State and moves it only through the named transitions of
// machine; a transition that is not allowed from the current state is an
// error, never a silent change.
type State uint8

// The runtime's states. The names in comments are the Runtime API's (AWS's
// emulator uses them in InvalidStateTransition messages).
const (
	// StateIdle: no runtime process runs; the next invoke starts one.
	StateIdle State = iota
	// StateInit: the runtime process was started and has not yet asked for
	// its first event ("Started").
	StateInit
	// StateReady: the runtime waits in /next and no invoke is in flight
	// ("Ready").
	StateReady
	// StateInvoking: an event was handed to the runtime and no result came
	// back yet ("Running").
	StateInvoking
	// StateResponded: the runtime posted a result and has not yet come back
	// to /next ("RuntimeResponseSentState").
	StateResponded
	// StateTimeout: an invoke ran past its deadline; the runtime is being
	// killed and will be started again.
	StateTimeout
	// StateCrash: the runtime process exited during an invoke; it is being
	// cleaned up and will be started again.
	StateCrash
	// StateInitError: init failed (the runtime reported /init/error, exited
	// or ran out of time before its first /next). The next invoke starts a
	// fresh runtime.
	StateInitError
	// StateShutdown: esb-rie is stopping; terminal.
	StateShutdown
)

var stateNames = [...]string{
	StateIdle:      "idle",
	StateInit:      "init",
	StateReady:     "ready",
	StateInvoking:  "invoking",
	StateResponded: "responded",
	StateTimeout:   "timeout",
	StateCrash:     "crash",
	StateInitError: "init-error",
	StateShutdown:  "shutdown",
}

// String returns the state's short name, as shown by /healthz.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", s)
}

// apiName returns the state's name as AWS's Runtime API prints it in
// InvalidStateTransition errors.
func (s State) apiName() string {
	switch s {
	case StateInit:
		return "Started"
	case StateReady:
		return "Ready"
	case StateInvoking:
		return "Running"
	case StateResponded:
		return "RuntimeResponseSentState"
	case StateInitError:
		return "InitError"
	default:
		return s.String()
	}
}

// TransitionError is returned when an event is not allowed in the current
// state.
type TransitionError struct {
	From  State
	Event string
}

// Error says which event the state refused.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("runtime state %s does not allow %s", e.From, e.Event)
}

// Events, as named in TransitionError.
const (
	evStartInit  = "start-init"
	evInitDone   = "init-done"
	evInitFailed = "init-failed"
	evDeliver    = "deliver"
	evRespond    = "respond"
	evNext       = "next"
	evTimeout    = "timeout"
	evCrash      = "crash"
	evExited     = "exited"
	evStop       = "stop"
)

// machine is the runtime's state machine: pure, no I/O, no locking (the
// Sandbox holds its mutex around every call).
type machine struct {
	state State
}

func (m *machine) move(event string, to State, allowed ...State) error {
	for _, s := range allowed {
		if m.state == s {
			m.state = to
			return nil
		}
	}
	return &TransitionError{From: m.state, Event: event}
}

// startInit starts a runtime process: idle or init-error → init.
func (m *machine) startInit() error {
	return m.move(evStartInit, StateInit, StateIdle, StateInitError)
}

// initDone records the runtime's first /next: init → ready.
func (m *machine) initDone() error {
	return m.move(evInitDone, StateReady, StateInit)
}

// initFailed records a failed init (/init/error, exit or init timeout):
// init → init-error.
func (m *machine) initFailed() error {
	return m.move(evInitFailed, StateInitError, StateInit)
}

// deliver hands an event to the runtime waiting in /next: ready → invoking.
func (m *machine) deliver() error {
	return m.move(evDeliver, StateInvoking, StateReady)
}

// respond records the runtime's /response or /error: invoking → responded.
func (m *machine) respond() error {
	return m.move(evRespond, StateResponded, StateInvoking)
}

// next records the runtime coming back to /next after a result:
// responded → ready.
func (m *machine) next() error {
	return m.move(evNext, StateReady, StateResponded)
}

// timeout records an invoke deadline passing before the runtime came back
// to /next: invoking or responded → timeout.
func (m *machine) timeout() error {
	return m.move(evTimeout, StateTimeout, StateInvoking, StateResponded)
}

// crash records the runtime exiting during an invoke: invoking → crash.
func (m *machine) crash() error {
	return m.move(evCrash, StateCrash, StateInvoking)
}

// exited records that the runtime process is gone outside init: ready or
// responded (it exited between invokes), timeout or crash (cleanup done)
// → idle.
func (m *machine) exited() error {
	return m.move(evExited, StateIdle, StateReady, StateResponded, StateTimeout, StateCrash)
}

// stop ends the machine for good: any state but shutdown → shutdown.
func (m *machine) stop() error {
	return m.move(evStop, StateShutdown, StateIdle, StateInit, StateReady, StateInvoking,
		StateResponded, StateTimeout, StateCrash, StateInitError)
}
