package docker

import (
	"testing"

	"github.com/edgeserverlessbox/esb/internal/agent"
)

func TestState(t *testing.T) {
	for in, want := range map[string]string{
		"created": agent.StateCreated, "running": agent.StateRunning, "restarting": agent.StateRunning,
		"paused": agent.StatePaused, "exited": agent.StateExited, "dead": agent.StateExited,
		"removing": agent.StateExited, "weird": agent.StateUnknown,
	} {
		if got := state(in); got != want {
			t.Errorf("state(%q) = %q, want %q", in, got, want)
		}
	}
}
