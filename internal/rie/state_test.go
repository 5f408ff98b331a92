package rie

import (
	"errors"
	"fmt"
	"testing"
)

// TestMachineEveryTransition walks every event from every state and checks
// the outcome against an independently written table: the allowed moves
// land where the lifecycle says, everything else is a TransitionError that
// leaves the state alone.
func TestMachineEveryTransition(t *testing.T) {
	all := []State{StateIdle, StateInit, StateReady, StateInvoking, StateResponded,
		StateTimeout, StateCrash, StateInitError, StateShutdown}
	events := map[string]func(*machine) error{
		evStartInit:  (*machine).startInit,
		evInitDone:   (*machine).initDone,
		evInitFailed: (*machine).initFailed,
		evDeliver:    (*machine).deliver,
		evRespond:    (*machine).respond,
		evNext:       (*machine).next,
		evTimeout:    (*machine).timeout,
		evCrash:      (*machine).crash,
		evExited:     (*machine).exited,
		evStop:       (*machine).stop,
	}
	type key struct {
		from  State
		event string
	}
	allowed := map[key]State{
		{StateIdle, evStartInit}:      StateInit,
		{StateInitError, evStartInit}: StateInit,
		{StateInit, evInitDone}:       StateReady,
		{StateInit, evInitFailed}:     StateInitError,
		{StateReady, evDeliver}:       StateInvoking,
		{StateInvoking, evRespond}:    StateResponded,
		{StateResponded, evNext}:      StateReady,
		{StateInvoking, evTimeout}:    StateTimeout,
		{StateResponded, evTimeout}:   StateTimeout,
		{StateInvoking, evCrash}:      StateCrash,
		{StateReady, evExited}:        StateIdle,
		{StateResponded, evExited}:    StateIdle,
		{StateTimeout, evExited}:      StateIdle,
		{StateCrash, evExited}:        StateIdle,
	}
	for _, s := range all {
		if s != StateShutdown {
			allowed[key{s, evStop}] = StateShutdown
		}
	}

	for _, from := range all {
		for name, ev := range events {
			t.Run(fmt.Sprintf("%s/%s", from, name), func(t *testing.T) {
				m := &machine{state: from}
				err := ev(m)
				want, ok := allowed[key{from, name}]
				if ok {
					if err != nil {
						t.Fatalf("%s from %s: unexpected error %v", name, from, err)
					}
					if m.state != want {
						t.Fatalf("%s from %s: state %s, want %s", name, from, m.state, want)
					}
					return
				}
				var te *TransitionError
				if !errors.As(err, &te) {
					t.Fatalf("%s from %s: want a TransitionError, got %v (state now %s)", name, from, err, m.state)
				}
				if te.From != from || te.Event != name {
					t.Fatalf("TransitionError = %+v", te)
				}
				if m.state != from {
					t.Fatalf("%s from %s: refused transition moved the state to %s", name, from, m.state)
				}
			})
		}
	}
}

// TestMachineLifecycles follows whole paths through the machine.
func TestMachineLifecycles(t *testing.T) {
	type step struct {
		ev   func(*machine) error
		want State
	}
	m := (*machine).startInit
	paths := map[string][]step{
		"warm invokes": {
			{m, StateInit}, {(*machine).initDone, StateReady},
			{(*machine).deliver, StateInvoking}, {(*machine).respond, StateResponded}, {(*machine).next, StateReady},
			{(*machine).deliver, StateInvoking}, {(*machine).respond, StateResponded}, {(*machine).next, StateReady},
		},
		"timeout then re-init": {
			{m, StateInit}, {(*machine).initDone, StateReady}, {(*machine).deliver, StateInvoking},
			{(*machine).timeout, StateTimeout}, {(*machine).exited, StateIdle}, {m, StateInit},
		},
		"crash then re-init": {
			{m, StateInit}, {(*machine).initDone, StateReady}, {(*machine).deliver, StateInvoking},
			{(*machine).crash, StateCrash}, {(*machine).exited, StateIdle}, {m, StateInit},
		},
		"init error then retry": {
			{m, StateInit}, {(*machine).initFailed, StateInitError}, {m, StateInit}, {(*machine).initDone, StateReady},
		},
		"shutdown while invoking": {
			{m, StateInit}, {(*machine).initDone, StateReady}, {(*machine).deliver, StateInvoking},
			{(*machine).stop, StateShutdown},
		},
	}
	for name, steps := range paths {
		t.Run(name, func(t *testing.T) {
			var mm machine
			for i, s := range steps {
				if err := s.ev(&mm); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if mm.state != s.want {
					t.Fatalf("step %d: state %s, want %s", i, mm.state, s.want)
				}
			}
		})
	}
}

func TestStateNames(t *testing.T) {
	for s := StateIdle; s <= StateShutdown; s++ {
		if s.String() == "" || s.apiName() == "" {
			t.Errorf("state %d has no name", s)
		}
	}
	if got := State(99).String(); got != "state(99)" {
		t.Errorf("unknown state prints %q", got)
	}
	if StateResponded.apiName() != "RuntimeResponseSentState" || StateInvoking.apiName() != "Running" {
		t.Error("Runtime API state names differ from AWS's")
	}
}
