// Package supervisor runs esb's control plane on one machine: it starts each
// daemon (agent, gateway, dynamodb, s3, victorialogs) as a child process with
// its paths as flags, watches its health, restarts it with backoff when it
// dies, and answers status, reload and stop requests on a unix socket in the
// project's state directory. `esb up` drives it; `esb up --foreground` runs it
// in the terminal (systemd, containers).
package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
)

// Layout is a project's state directory (<output_dir>/state), as
// docs/contracts.md fixes it.
type Layout struct {
	// Root is the state directory, absolute.
	Root string
}

// Run is state/run: pids, sockets, locks, the state file.
func (l Layout) Run() string { return filepath.Join(l.Root, "run") }

// Logs is state/logs: the local log store and each daemon's raw output.
func (l Layout) Logs() string { return filepath.Join(l.Root, "logs") }

// Data is state/data: what `esb down --volumes` removes.
func (l Layout) Data() string { return filepath.Join(l.Root, "data") }

// Certs is state/certs: the local CA and the gateway's certificate.
func (l Layout) Certs() string { return filepath.Join(l.Root, "certs") }

// SecretsFile is state/secrets.env (mode 0600).
func (l Layout) SecretsFile() string { return filepath.Join(l.Root, "secrets.env") }

// Socket is the supervisor's control socket.
func (l Layout) Socket() string { return filepath.Join(l.Run(), "supervisor.sock") }

// AgentSocket is the agent's gRPC socket.
func (l Layout) AgentSocket() string { return filepath.Join(l.Run(), "agent.sock") }

// UpLock is the lock `esb up` and `esb down` hold while they change the project.
func (l Layout) UpLock() string { return filepath.Join(l.Run(), "up.lock") }

// SupervisorLock is held by the running supervisor for its whole life.
func (l Layout) SupervisorLock() string { return filepath.Join(l.Run(), "supervisor.lock") }

// StateFile is the supervisor's record of what it runs (rebuilt when missing).
func (l Layout) StateFile() string { return filepath.Join(l.Run(), "state.json") }

// PIDFile is the pid file of a service.
func (l Layout) PIDFile(service string) string { return filepath.Join(l.Run(), service+".pid") }

// OutputFile is where a service's raw stdout and stderr go.
func (l Layout) OutputFile(service string) string { return filepath.Join(l.Logs(), service+".out") }

// DataDir is the data directory of a service.
func (l Layout) DataDir(service string) string { return filepath.Join(l.Data(), service) }

// Ensure creates the directories of the layout. The state directory and run/
// are private to the user (0700); secrets stay 0600.
func (l Layout) Ensure() error {
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{l.Root, 0o700}, {l.Run(), 0o700}, {l.Logs(), 0o755}, {l.Data(), 0o700}, {l.Certs(), 0o700}} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return fmt.Errorf("create state directory %s: %w", d.path, err)
		}
	}
	return nil
}
