// Package agent is esb's privileged container agent: it starts, lists,
// measures, pauses and removes function containers on a container runtime
// (Docker Engine or containerd) and serves that over gRPC (api/agent/v1).
//
// The service layer (this package) owns readiness, log plumbing, validation
// and labels; a Runtime (internal/agent/docker, internal/agent/containerd)
// owns the calls into one container runtime.
package agent

import (
	"context"
	"errors"
	"io"
	"sort"
	"time"
)

// Labels the agent puts on every object it creates. Nothing without
// LabelManaged=true is ever touched; a container is a worker only when it also
// carries LabelCreatedAt, which only the agent sets (Docker copies an image's
// labels into its containers, so esb.managed alone would also match a
// container someone started by hand from an esb image).
const (
	LabelManaged   = "esb.managed"
	LabelFunction  = "esb.function"
	LabelProject   = "esb.project"
	LabelCreatedAt = "esb.created-at"
	// LabelMemoryMB records the memory limit, so capacity accounting survives restarts.
	LabelMemoryMB = "esb.memory-mb"
	// LabelIP records the worker's address where the runtime does not (containerd + CNI).
	LabelIP = "esb.ip"
)

// IsWorker tells whether a container's labels mark it as one the agent made.
func IsWorker(labels map[string]string) bool {
	return labels[LabelManaged] == "true" && labels[LabelCreatedAt] != ""
}

// WorkerPort is the port of esb-rie's invoke endpoint inside every worker.
const WorkerPort = 8080

// HostAliasNames are the host names every worker can resolve: the local
// services as the gateway's composed environment names them.
var HostAliasNames = []string{"s3-storage", "database", "gateway", "victorialogs"}

// ErrImageNotFound is returned (wrapped) by a Runtime when the image of a
// container does not exist in the runtime's image store.
var ErrImageNotFound = errors.New("image not found")

// ErrNotFound is returned (wrapped) when no container has the id.
var ErrNotFound = errors.New("no such container")

// ErrNotManaged is returned (wrapped) for a container without
// LabelManaged=true: the agent never touches it.
var ErrNotManaged = errors.New("container not managed by esb")

// Runtime is the agent's view of a container runtime. Every method acts only
// on containers carrying LabelManaged=true.
type Runtime interface {
	// Mode names the runtime: "docker" or "containerd".
	Mode() string
	// Version reports the runtime's version; an error means it does not answer.
	Version(ctx context.Context) (string, error)
	// Start creates and starts a container from spec and streams its stdout
	// and stderr, from the first byte to the last, into out (closing both
	// writers when the streams end). It returns once the container runs.
	Start(ctx context.Context, spec Spec, out Output) (Started, error)
	// Attach resumes streaming the output of a running container the agent
	// created earlier (after an agent restart).
	Attach(ctx context.Context, id string, out Output) error
	// Remove stops and deletes a container. A container that is already gone is not an error.
	Remove(ctx context.Context, id string) error
	// List reports every container with esb's labels matching the filter.
	List(ctx context.Context, f Filter) ([]Container, error)
	// Pause freezes a container (cgroup freezer); Resume thaws it.
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
	// Metrics reports resource usage of one container.
	Metrics(ctx context.Context, id string) (Metrics, error)
	// Close releases the runtime's connections.
	Close() error
}

// Spec describes one worker container.
type Spec struct {
	// Name is the container name (also the id on containerd).
	Name     string
	Function string
	Project  string
	Image    string
	// Env is the complete environment as KEY=VALUE, in a stable order.
	Env []string
	// Command overrides the image's CMD when not empty.
	Command []string
	// Labels is the complete label set (esb.* included).
	Labels map[string]string
	// MemoryBytes is the hard memory limit (no swap beyond it).
	MemoryBytes int64
	// CPUShares is the relative CPU weight (1024 = one vCPU's worth, Docker's default).
	CPUShares uint64
	// PidsLimit bounds the number of processes and threads.
	PidsLimit int64
	// TmpBytes is the size of the writable tmpfs at /tmp.
	TmpBytes int64
}

// Output receives a container's streams. A Runtime closes both writers when
// the container's streams end (normally: when the container exits).
type Output struct {
	Stdout io.WriteCloser
	Stderr io.WriteCloser
	// Created, when set, is called with the container id as soon as the
	// runtime knows it, before any output is written.
	Created func(id string)
}

// Started describes a container that Start has started.
type Started struct {
	ID   string
	Name string
	// IP is the container's address, reachable from the agent's host.
	IP string
	// Exited is closed when the container's main process exits; the Exit
	// value is then available from it (it delivers exactly one value).
	Exited <-chan Exit
}

// Exit is how a container's main process ended.
type Exit struct {
	Code int
	Err  error
}

// Filter selects containers in List. Empty fields match everything.
type Filter struct {
	Function string
	Project  string
	ID       string
}

// Container states as the API reports them.
const (
	StateCreated = "created"
	StateRunning = "running"
	StatePaused  = "paused"
	StateExited  = "exited"
	StateUnknown = "unknown"
)

// Container is one container with esb's labels as a Runtime lists it.
type Container struct {
	ID        string
	Name      string
	Function  string
	Project   string
	State     string
	CreatedAt time.Time
	IP        string
	Image     string
	Labels    map[string]string
	MemoryMB  int
}

// Metrics is one container's resource usage, read from its cgroup.
type Metrics struct {
	ID                 string
	Function           string
	State              string
	MemoryCurrentBytes uint64
	MemoryMaxBytes     uint64
	OOMEvents          uint64
	CPUUsageNs         uint64
	ExitCode           int
	Restarts           int
}

// HostAliases says what the host names in HostAliasNames (and any extra
// names) resolve to inside every worker.
type HostAliases struct {
	// HostIP is the address of HostAliasNames; empty = the host's address on
	// the container network (the bridge's gateway).
	HostIP string
	// Extra maps further names, or overrides of HostAliasNames, to addresses.
	Extra map[string]string
}

// HostEntry is one name → address mapping.
type HostEntry struct {
	Name string
	IP   string
}

// Entries resolves the aliases, with gatewayIP standing for an empty HostIP,
// sorted by name.
func (h HostAliases) Entries(gatewayIP string) []HostEntry {
	ip := h.HostIP
	if ip == "" {
		ip = gatewayIP
	}
	m := make(map[string]string, len(HostAliasNames)+len(h.Extra))
	for _, n := range HostAliasNames {
		m[n] = ip
	}
	for n, a := range h.Extra {
		m[n] = a
	}
	out := make([]HostEntry, 0, len(m))
	for n, a := range m {
		out = append(out, HostEntry{Name: n, IP: a})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ParseCreatedAt reads LabelCreatedAt; zero when missing or malformed.
func ParseCreatedAt(labels map[string]string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, labels[LabelCreatedAt])
	return t
}
