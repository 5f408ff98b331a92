package cli

import (
	"strings"
	"testing"
	"time"
)

func TestAgentParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "30": 30 * time.Second, "1.5": 1500 * time.Millisecond, "2m": 2 * time.Minute} {
		if got, err := parseDuration("X", in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-3", "soon", "-1s"} {
		if _, err := parseDuration("READINESS_TIMEOUT", in); err == nil || !strings.Contains(err.Error(), "READINESS_TIMEOUT") {
			t.Errorf("parseDuration(%q) accepted or unclear: %v", in, err)
		}
	}
}

func TestAgentAliases(t *testing.T) {
	o := &agentOptions{hostIP: "192.168.1.10", addHosts: []string{"database=10.0.0.7", "extra:10.0.0.8"}}
	h, err := o.aliases()
	if err != nil || h.HostIP != "192.168.1.10" || h.Extra["database"] != "10.0.0.7" || h.Extra["extra"] != "10.0.0.8" {
		t.Fatalf("aliases: %+v %v", h, err)
	}
	for _, bad := range []*agentOptions{{hostIP: "not-an-ip"}, {addHosts: []string{"database"}}, {addHosts: []string{"=1.2.3.4"}}, {addHosts: []string{"db=nope"}}} {
		if _, err := bad.aliases(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestAgentRejectsBadMode(t *testing.T) {
	var out strings.Builder
	g := &Globals{Stdout: &out, Stderr: &out}
	root := NewRootCommand(g)
	root.SetArgs([]string{"agent", "--mode", "podman", "--state-dir", t.TempDir()})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "podman") || !strings.Contains(err.Error(), "ESB_MODE") {
		t.Fatalf("err = %v", err)
	}
	root = NewRootCommand(g)
	root.SetArgs([]string{"agent", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir()})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Fatalf("TCP without TLS: %v", err)
	}
}
