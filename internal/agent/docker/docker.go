// Package docker is the agent's Runtime over the Docker Engine API: workers
// are containers on a user-defined bridge network, host aliases are
// ExtraHosts, pause/resume is Docker's (cgroup freezer).
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/cgroups"
)

// Config configures the Docker runtime.
type Config struct {
	// Host is the Docker Engine address (DOCKER_HOST); empty = the client's default.
	Host string
	// Network is the user-defined bridge network workers join; created
	// (labelled esb.managed=true) when missing. Default "esb".
	Network string
	// Aliases are the host names resolvable inside workers.
	Aliases agent.HostAliases
	// LogMaxSize bounds each of a worker's json-file log files ("20m").
	LogMaxSize string
	// LogMaxFiles is how many such files Docker keeps ("5"). The agent follows
	// the log as it is written; these files are its slack when a burst outruns
	// Docker's log API, so a larger budget loses no lines in bigger bursts.
	LogMaxFiles string
}

// Runtime drives Docker Engine.
type Runtime struct {
	cfg   Config
	cli   *client.Client
	log   *slog.Logger
	cg    *cgroups.Reader // nil when this host's cgroups are not readable
	hosts []string        // ExtraHosts, "name:ip"
	// securityOpt: no-new-privileges and esb's seccomp filter (inline JSON).
	securityOpt []string
	ctx         context.Context // outlives requests: log followers, exit waiters
	cancel      context.CancelFunc
	wg          sync.WaitGroup
}

// New connects to Docker Engine (negotiating the API version) and makes sure
// the worker network exists.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Runtime, error) {
	if cfg.Network == "" {
		cfg.Network = "esb"
	}
	if cfg.LogMaxSize == "" {
		cfg.LogMaxSize = "20m"
	}
	if cfg.LogMaxFiles == "" {
		cfg.LogMaxFiles = "5"
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", cfg.Host, err)
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine at %s does not answer (is dockerd running? set DOCKER_HOST or --docker-host): %w", cli.DaemonHost(), err)
	}
	gw, err := ensureNetwork(ctx, cli, cfg.Network)
	if err != nil {
		cli.Close()
		return nil, err
	}
	r := &Runtime{cfg: cfg, cli: cli, log: logger}
	for _, e := range cfg.Aliases.Entries(gw) {
		if e.IP == "" {
			cli.Close()
			return nil, fmt.Errorf("docker network %s has no gateway address; set the host alias address with --host-ip", cfg.Network)
		}
		r.hosts = append(r.hosts, e.Name+":"+e.IP)
	}
	sc, err := json.Marshal(agent.WorkerSeccomp())
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("encode seccomp filter: %w", err)
	}
	r.securityOpt = []string{"no-new-privileges", "seccomp=" + string(sc)}
	if cg, err := cgroups.NewReader("/proc"); err == nil {
		r.cg = cg
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// ensureNetwork creates the worker network if missing and returns its gateway address.
func ensureNetwork(ctx context.Context, cli *client.Client, name string) (string, error) {
	nw, err := cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if cerrdefs.IsNotFound(err) {
		_, err = cli.NetworkCreate(ctx, name, network.CreateOptions{
			Driver: "bridge",
			Labels: map[string]string{agent.LabelManaged: "true", agent.LabelCreatedAt: time.Now().UTC().Format(time.RFC3339Nano)},
		})
		if err != nil && !cerrdefs.IsConflict(err) && !strings.Contains(err.Error(), "already exists") {
			return "", fmt.Errorf("create docker network %s: %w", name, err)
		}
		nw, err = cli.NetworkInspect(ctx, name, network.InspectOptions{})
	}
	if err != nil {
		return "", fmt.Errorf("inspect docker network %s: %w", name, err)
	}
	for _, c := range nw.IPAM.Config {
		if c.Gateway != "" {
			return c.Gateway, nil
		}
	}
	return "", nil
}

// Mode is "docker".
func (r *Runtime) Mode() string { return "docker" }

// Version reports Docker Engine's version.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return "", err
	}
	return v.Version + " (API " + v.APIVersion + ")", nil
}

// Close stops the log followers and closes the client.
func (r *Runtime) Close() error {
	r.cancel()
	r.wg.Wait()
	return r.cli.Close()
}

// Start creates and starts a worker.
func (r *Runtime) Start(ctx context.Context, spec agent.Spec, out agent.Output) (agent.Started, error) {
	pids := spec.PidsLimit
	cfg := &container.Config{
		Image:  spec.Image,
		Env:    spec.Env,
		Labels: spec.Labels,
	}
	if len(spec.Command) > 0 {
		cfg.Cmd = spec.Command
	}
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(r.cfg.Network),
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,size=" + strconv.FormatInt(spec.TmpBytes, 10) + ",mode=1777"},
		CapDrop:        []string{"ALL"},
		SecurityOpt:    r.securityOpt,
		ExtraHosts:     r.hosts,
		LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": r.cfg.LogMaxSize, "max-file": r.cfg.LogMaxFiles}},
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources: container.Resources{
			Memory:     spec.MemoryBytes,
			MemorySwap: spec.MemoryBytes,
			CPUShares:  int64(spec.CPUShares),
		},
	}
	if pids > 0 {
		hc.Resources.PidsLimit = &pids
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{r.cfg.Network: {}}}
	created, err := r.cli.ContainerCreate(ctx, cfg, hc, nc, nil, spec.Name)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return agent.Started{}, fmt.Errorf("create container: %v: %w", err, agent.ErrImageNotFound)
		}
		return agent.Started{}, fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	id := created.ID
	if out.Created != nil {
		out.Created(id)
	}
	fail := func(step string, err error) (agent.Started, error) {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = r.cli.ContainerRemove(rmCtx, id, container.RemoveOptions{Force: true})
		return agent.Started{}, fmt.Errorf("%s container %s: %w", step, spec.Name, err)
	}

	// Wait for the next exit before starting, so an immediate exit is seen.
	waitC, waitErrC := r.cli.ContainerWait(r.ctx, id, container.WaitConditionNextExit)
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fail("start", err)
	}
	exited := make(chan agent.Exit, 1)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case w := <-waitC:
			e := agent.Exit{Code: int(w.StatusCode)}
			if w.Error != nil && w.Error.Message != "" {
				e.Err = errors.New(w.Error.Message)
			}
			exited <- e
		case err := <-waitErrC:
			if r.ctx.Err() == nil {
				exited <- agent.Exit{Code: -1, Err: err}
			}
		}
	}()
	if err := r.follow(ctx, id, "", out); err != nil {
		return fail("stream output of", err)
	}
	info, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return fail("inspect", err)
	}
	ip := ""
	if info.NetworkSettings != nil {
		if ep := info.NetworkSettings.Networks[r.cfg.Network]; ep != nil {
			ip = ep.IPAddress
		}
	}
	if ip == "" && info.State != nil && info.State.Running {
		return fail("find the address of", fmt.Errorf("no IP address on network %s", r.cfg.Network))
	}
	return agent.Started{ID: id, Name: spec.Name, IP: ip, Exited: exited}, nil
}

// follow streams a container's output (since a time, "" = from the start)
// into out until the container stops or the runtime closes.
func (r *Runtime) follow(ctx context.Context, id, since string, out agent.Output) error {
	rc, err := r.cli.ContainerLogs(r.ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Since: since})
	if err != nil {
		out.Stdout.Close()
		out.Stderr.Close()
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer out.Stderr.Close()
		defer out.Stdout.Close()
		defer rc.Close()
		if _, err := stdcopy.StdCopy(out.Stdout, out.Stderr, rc); err != nil && r.ctx.Err() == nil && !errors.Is(err, io.EOF) {
			r.log.Debug("worker output stream ended", "container", id, "err", err)
		}
	}()
	return nil
}

// Attach resumes streaming a running worker's output from now on.
func (r *Runtime) Attach(ctx context.Context, id string, out agent.Output) error {
	if _, err := r.inspectManaged(ctx, id); err != nil {
		out.Stdout.Close()
		out.Stderr.Close()
		return err
	}
	now := time.Now()
	return r.follow(ctx, id, fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()), out)
}

// inspectManaged inspects a container and refuses one without esb's label.
func (r *Runtime) inspectManaged(ctx context.Context, id string) (container.InspectResponse, error) {
	info, err := r.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return info, fmt.Errorf("container %s: %w", id, agent.ErrNotFound)
	}
	if err != nil {
		return info, fmt.Errorf("inspect container %s: %w", id, err)
	}
	if info.Config == nil || !agent.IsWorker(info.Config.Labels) {
		return info, fmt.Errorf("container %s is not an esb worker (labels %s=true and %s); esb leaves it alone: %w", id, agent.LabelManaged, agent.LabelCreatedAt, agent.ErrNotManaged)
	}
	return info, nil
}

// Remove force-removes a worker.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	info, err := r.inspectManaged(ctx, id)
	if err != nil {
		return err
	}
	err = r.cli.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// Pause freezes a worker.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	info, err := r.inspectManaged(ctx, id)
	if err != nil {
		return err
	}
	return r.cli.ContainerPause(ctx, info.ID)
}

// Resume thaws a worker.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	info, err := r.inspectManaged(ctx, id)
	if err != nil {
		return err
	}
	return r.cli.ContainerUnpause(ctx, info.ID)
}

// List reports esb's containers.
func (r *Runtime) List(ctx context.Context, f agent.Filter) ([]agent.Container, error) {
	args := filters.NewArgs(filters.Arg("label", agent.LabelManaged+"=true"), filters.Arg("label", agent.LabelCreatedAt))
	if f.Function != "" {
		args.Add("label", agent.LabelFunction+"="+f.Function)
	}
	if f.Project != "" {
		args.Add("label", agent.LabelProject+"="+f.Project)
	}
	if f.ID != "" {
		args.Add("id", f.ID)
	}
	cs, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("docker container list: %w", err)
	}
	out := make([]agent.Container, 0, len(cs))
	for _, c := range cs {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		created := agent.ParseCreatedAt(c.Labels)
		if created.IsZero() {
			created = time.Unix(c.Created, 0)
		}
		ip := ""
		if c.NetworkSettings != nil {
			if ep := c.NetworkSettings.Networks[r.cfg.Network]; ep != nil {
				ip = ep.IPAddress
			}
		}
		mem, _ := strconv.Atoi(c.Labels[agent.LabelMemoryMB])
		out = append(out, agent.Container{
			ID: c.ID, Name: name, Function: c.Labels[agent.LabelFunction], Project: c.Labels[agent.LabelProject],
			State: state(string(c.State)), CreatedAt: created, IP: ip, Image: c.Image, Labels: c.Labels, MemoryMB: mem,
		})
	}
	return out, nil
}

// state maps Docker's container states to the API's.
func state(s string) string {
	switch s {
	case "created":
		return agent.StateCreated
	case "running", "restarting":
		return agent.StateRunning
	case "paused":
		return agent.StatePaused
	case "exited", "dead", "removing":
		return agent.StateExited
	}
	return agent.StateUnknown
}

// Metrics reads a worker's cgroup (through /proc when the engine is local,
// else through the engine's one-shot stats).
func (r *Runtime) Metrics(ctx context.Context, id string) (agent.Metrics, error) {
	info, err := r.inspectManaged(ctx, id)
	if err != nil {
		return agent.Metrics{}, err
	}
	m := agent.Metrics{ID: info.ID, Function: info.Config.Labels[agent.LabelFunction], Restarts: info.RestartCount}
	if info.State != nil {
		m.State = state(info.State.Status)
		m.ExitCode = info.State.ExitCode
		if info.State.OOMKilled {
			m.OOMEvents = 1
		}
	}
	if info.State == nil || info.State.Pid <= 0 {
		return m, nil
	}
	if r.cg != nil {
		if st, err := r.cg.Pid(info.State.Pid); err == nil {
			m.MemoryCurrentBytes, m.MemoryMaxBytes, m.CPUUsageNs = st.MemoryCurrentBytes, st.MemoryMaxBytes, st.CPUUsageNs
			if st.OOMEvents > m.OOMEvents {
				m.OOMEvents = st.OOMEvents
			}
			return m, nil
		}
	}
	return r.engineStats(ctx, m)
}

// engineStats fills m from Docker's one-shot stats (a remote engine).
func (r *Runtime) engineStats(ctx context.Context, m agent.Metrics) (agent.Metrics, error) {
	rs, err := r.cli.ContainerStatsOneShot(ctx, m.ID)
	if err != nil {
		return m, fmt.Errorf("stats of container %s: %w", m.ID, err)
	}
	defer rs.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(rs.Body).Decode(&st); err != nil {
		return m, fmt.Errorf("decode stats of container %s: %w", m.ID, err)
	}
	m.MemoryCurrentBytes = st.MemoryStats.Usage
	m.MemoryMaxBytes = st.MemoryStats.Limit
	m.CPUUsageNs = st.CPUStats.CPUUsage.TotalUsage
	return m, nil
}
