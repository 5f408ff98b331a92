// Package containerd is the agent's Runtime over containerd (1.6 or later)
// with CNI networking: every worker is a container + task in one
// namespace, attached to the agent's bridge; host aliases come from a
// generated hosts file mounted read-only.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/cgroups"
	"github.com/edgeserverlessbox/esb/internal/agent/cni"
)

// Config configures the containerd runtime.
type Config struct {
	// Address is containerd's socket. Default /run/containerd/containerd.sock.
	Address string
	// Namespace holds every worker. Default "esb".
	Namespace string
	// Snapshotter unpacks images; empty = containerd's default (overlayfs).
	Snapshotter string
	// StateDir holds the hosts and resolv.conf files workers mount and the
	// output FIFOs. Required.
	StateDir string
	// CNI configures the worker network.
	CNI cni.Config
	// Aliases are the host names resolvable inside workers.
	Aliases agent.HostAliases
	// ResolvConf is the host file whose name servers workers use. Default /etc/resolv.conf.
	ResolvConf string
}

// Defaults of Config.
const (
	DefaultAddress   = "/run/containerd/containerd.sock"
	DefaultNamespace = "esb"
)

// Runtime drives containerd.
type Runtime struct {
	cfg       Config
	client    *containerd.Client
	net       *cni.Network
	cg        *cgroups.Reader
	log       *slog.Logger
	fifoRoot  string
	netnsRoot string
	hosts     string // path of the hosts file
	resolv    string // path of resolv.conf
	swap      bool   // the kernel accounts swap: limit memory+swap too

	imgMu    sync.Mutex
	imgNames map[string]string      // requested reference → name in containerd
	unpacked map[digest.Digest]bool // image contents known to be unpacked

	ctx    context.Context // namespaced; outlives requests
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New connects to containerd, prepares the network and the files workers mount.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Runtime, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.StateDir == "" {
		return nil, errors.New("containerd runtime needs a state directory (--state-dir)")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("containerd mode needs root: the agent creates network namespaces and runs the CNI plugins (run esb agent as root, or use --mode docker)")
	}
	if cfg.CNI.Logger == nil {
		cfg.CNI.Logger = logger
	}
	if cfg.CNI.ConfDir == "" {
		cfg.CNI.ConfDir = filepath.Join(cfg.StateDir, "cni")
	}
	if _, err := os.Stat(cfg.Address); err != nil {
		return nil, fmt.Errorf("containerd socket %s: %w (is containerd running? set --containerd-address or CONTAINERD_ADDRESS)", cfg.Address, err)
	}
	cg, err := cgroups.NewReader("/proc")
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: %w", err)
	}
	client, err := containerd.New(cfg.Address, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s (is containerd running? set --containerd-address or CONTAINERD_ADDRESS): %w", cfg.Address, err)
	}
	network, err := cni.New(cfg.CNI)
	if err != nil {
		client.Close()
		return nil, err
	}
	r := &Runtime{cfg: cfg, client: client, net: network, cg: cg, log: logger,
		fifoRoot:  filepath.Join(cfg.StateDir, "fifo"),
		netnsRoot: filepath.Join(cfg.StateDir, "netns"),
		hosts:     filepath.Join(cfg.StateDir, "hosts"),
		resolv:    filepath.Join(cfg.StateDir, "resolv.conf"),
		imgNames:  map[string]string{},
		unpacked:  map[digest.Digest]bool{},
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		r.swap = true
	} else if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		r.swap = true // cgroup v2: runc maps memory+swap to memory.swap.max
	}
	if err := r.writeFiles(); err != nil {
		client.Close()
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(namespaces.WithNamespace(context.Background(), cfg.Namespace))
	return r, nil
}

// writeFiles writes the hosts file and resolv.conf every worker mounts.
func (r *Runtime) writeFiles() error {
	if err := os.MkdirAll(r.fifoRoot, 0o700); err != nil {
		return fmt.Errorf("create FIFO directory: %w", err)
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	for _, e := range r.cfg.Aliases.Entries(r.net.Gateway()) {
		hosts += e.IP + "\t" + e.Name + "\n"
	}
	if err := writeIfChanged(r.hosts, []byte(hosts)); err != nil {
		return fmt.Errorf("write workers' hosts file: %w", err)
	}
	host, _ := os.ReadFile(r.cfg.ResolvConf)
	if err := writeIfChanged(r.resolv, resolvConf(host)); err != nil {
		return fmt.Errorf("write workers' resolv.conf: %w", err)
	}
	return nil
}

// writeIfChanged replaces path atomically unless it already holds data
// (running workers keep the file they mounted either way).
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// Mode is "containerd".
func (r *Runtime) Mode() string { return "containerd" }

// Version reports containerd's version.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(r.ns(ctx))
	if err != nil {
		return "", err
	}
	return v.Version, nil
}

// Close stops output streaming and disconnects.
func (r *Runtime) Close() error {
	r.cancel()
	r.wg.Wait()
	return r.client.Close()
}

func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// image finds an image by the reference as given or as normalised
// (esb-hello:latest → docker.io/library/esb-hello:latest) and unpacks it if
// needed. Which name matched and which image contents are unpacked are
// remembered, so a start usually costs one lookup.
func (r *Runtime) image(ctx context.Context, ref string) (containerd.Image, error) {
	r.imgMu.Lock()
	name, known := r.imgNames[ref]
	r.imgMu.Unlock()
	var img containerd.Image
	var err error = cerrdefs.ErrNotFound
	if known {
		img, err = r.client.GetImage(ctx, name)
	}
	if cerrdefs.IsNotFound(err) {
		name = ref
		img, err = r.client.GetImage(ctx, ref)
		if cerrdefs.IsNotFound(err) {
			if named, perr := reference.ParseDockerRef(ref); perr == nil && named.String() != ref {
				name = named.String()
				img, err = r.client.GetImage(ctx, name)
			}
		}
	}
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("image %s is not in containerd namespace %s: %w", ref, r.cfg.Namespace, agent.ErrImageNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up image %s: %w", ref, err)
	}
	target := img.Target().Digest
	r.imgMu.Lock()
	r.imgNames[ref] = name
	unpacked := r.unpacked[target]
	r.imgMu.Unlock()
	if unpacked {
		return img, nil
	}
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return nil, fmt.Errorf("check image %s: %w", ref, err)
	}
	if !ok {
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack image %s: %w", ref, err)
		}
	}
	r.imgMu.Lock()
	r.unpacked[target] = true
	r.imgMu.Unlock()
	return img, nil
}

// forgetUnpacked drops what image() remembers about ref's contents (its
// snapshot may have been pruned).
func (r *Runtime) forgetUnpacked(img containerd.Image) {
	r.imgMu.Lock()
	delete(r.unpacked, img.Target().Digest)
	r.imgMu.Unlock()
}

// Start creates the worker's network namespace and attaches it (CNI) while
// the container and its task are created, then starts the task.
func (r *Runtime) Start(ctx context.Context, spec agent.Spec, out agent.Output) (agent.Started, error) {
	ctx = r.ns(ctx)
	t0 := time.Now()
	closeOut := func() { out.Stdout.Close(); out.Stderr.Close() }
	img, err := r.image(ctx, spec.Image)
	if err != nil {
		closeOut()
		return agent.Started{}, err
	}
	tImage := time.Now()

	nsPath, err := newNetNS(r.netnsRoot, spec.Name)
	if err != nil {
		closeOut()
		return agent.Started{}, fmt.Errorf("create network namespace for %s: %w", spec.Name, err)
	}
	type attached struct {
		ip  string
		err error
		at  time.Time
	}
	netC := make(chan attached, 1)
	go func() {
		ip, err := r.net.Attach(ctx, spec.Name, nsPath)
		netC <- attached{ip, err, time.Now()}
	}()
	// dropNetwork undoes the namespace once the attach has finished.
	dropNetwork := func() {
		<-netC
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		r.dropNetNS(cctx, spec.Name, nsPath)
	}

	labels := make(map[string]string, len(spec.Labels)+1)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[labelNetNS] = nsPath
	specOpts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithEnv(spec.Env),
		oci.WithHostname(hostname(spec.Name)),
		oci.WithRootFSReadonly(),
		oci.WithNoNewPrivileges,
		oci.WithCapabilities(nil),
		withSeccomp(agent.WorkerSeccomp()),
		oci.WithMemoryLimit(uint64(spec.MemoryBytes)),
		oci.WithCPUShares(spec.CPUShares),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: nsPath}),
		// Workers share one runc shim per namespace instead of one process each.
		oci.WithAnnotations(map[string]string{"io.containerd.runc.v2.group": "esb"}),
		oci.WithMounts([]specs.Mount{
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=" + strconv.FormatInt(spec.TmpBytes, 10)}},
			{Destination: "/etc/hosts", Type: "bind", Source: r.hosts, Options: []string{"rbind", "ro"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: r.resolv, Options: []string{"rbind", "ro"}},
		}),
	}
	if len(spec.Command) > 0 {
		specOpts[0] = oci.WithImageConfigArgs(img, spec.Command)
	}
	if r.swap {
		specOpts = append(specOpts, oci.WithMemorySwap(spec.MemoryBytes))
	}
	if spec.PidsLimit > 0 {
		specOpts = append(specOpts, oci.WithPidsLimit(spec.PidsLimit))
	}
	newOpts := []containerd.NewContainerOpts{containerd.WithImage(img)}
	if r.cfg.Snapshotter != "" {
		newOpts = append(newOpts, containerd.WithSnapshotter(r.cfg.Snapshotter))
	}
	newOpts = append(newOpts,
		containerd.WithNewSnapshot(spec.Name, img),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(labels),
	)
	c, err := r.client.NewContainer(ctx, spec.Name, newOpts...)
	if err != nil {
		r.forgetUnpacked(img)
		closeOut()
		dropNetwork()
		return agent.Started{}, fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	tCreated := time.Now()
	if out.Created != nil {
		out.Created(spec.Name)
	}
	netDone := false
	fail := func(step string, err error) (agent.Started, error) {
		if !netDone {
			<-netC
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if rmErr := r.remove(cctx, c); rmErr != nil {
			r.log.Warn("clean up a worker that failed to start", "container", spec.Name, "err", rmErr)
		}
		return agent.Started{}, fmt.Errorf("%s %s: %w", step, spec.Name, err)
	}

	task, err := c.NewTask(ctx, r.creator(out))
	if err != nil {
		return fail("create task of", err)
	}
	tTask := time.Now()
	exitC, err := task.Wait(r.ctx)
	if err != nil {
		return fail("wait for task of", err)
	}
	net := <-netC
	netDone = true
	if net.err != nil {
		return fail("attach network of", net.err)
	}
	// Record the address (for listing after an agent restart) while the task starts.
	labelled := make(chan error, 1)
	go func() {
		_, err := c.SetLabels(ctx, map[string]string{agent.LabelIP: net.ip})
		labelled <- err
	}()
	startErr := task.Start(ctx)
	if err := <-labelled; err != nil && startErr == nil {
		return fail("label", err)
	}
	if startErr != nil {
		return fail("start task of", startErr)
	}
	r.log.Debug("worker started", "container", spec.Name, "image", spec.Image, "ip", net.ip,
		"image", tImage.Sub(t0), "create", tCreated.Sub(tImage), "task", tTask.Sub(tCreated), "network", net.at.Sub(t0), "start", time.Since(tTask))
	exited := make(chan agent.Exit, 1)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case st := <-exitC:
			code, _, err := st.Result()
			exited <- agent.Exit{Code: int(code), Err: err}
		case <-r.ctx.Done():
		}
	}()
	return agent.Started{ID: spec.Name, Name: spec.Name, IP: net.ip, Exited: exited}, nil
}

// withSeccomp sets the process's seccomp filter.
func withSeccomp(sc *specs.LinuxSeccomp) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.Seccomp = sc
		return nil
	}
}

// labelNetNS records the worker's network namespace (a bind mount under the
// state directory), so teardown works after the task is gone or the agent restarted.
const labelNetNS = "esb.netns"

// dropNetNS detaches a namespace from the network and removes it.
func (r *Runtime) dropNetNS(ctx context.Context, id, path string) {
	if err := r.net.Detach(ctx, id, path); err != nil {
		r.log.Warn("detach worker network", "container", id, "err", err)
	}
	if path == "" {
		return
	}
	if err := removeNetNS(path); err != nil {
		r.log.Warn("remove worker network namespace", "container", id, "path", path, "err", err)
	}
}

// hostname keeps a container name within the 63 characters of a host name.
func hostname(name string) string {
	if len(name) > 63 {
		return name[:63]
	}
	return name
}

// creator makes the task's stdout/stderr FIFOs under the agent's state
// directory and copies them into out.
func (r *Runtime) creator(out agent.Output) cio.Creator {
	return func(id string) (cio.IO, error) {
		dir := filepath.Join(r.fifoRoot, id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			out.Stdout.Close()
			out.Stderr.Close()
			return nil, err
		}
		fifos := cio.NewFIFOSet(cio.Config{Stdout: filepath.Join(dir, "stdout"), Stderr: filepath.Join(dir, "stderr")}, func() error { return os.RemoveAll(dir) })
		return r.copyOut(fifos, out)
	}
}

// attacher reopens the FIFOs of a running task (after an agent restart).
func (r *Runtime) attacher(out agent.Output) cio.Attach {
	return func(fifos *cio.FIFOSet) (cio.IO, error) {
		if fifos == nil {
			out.Stdout.Close()
			out.Stderr.Close()
			return nil, errors.New("the task has no output FIFOs to attach to")
		}
		fifos.Stdin = ""
		return r.copyOut(fifos, out)
	}
}

// copyOut opens the FIFOs for reading and copies them into out until the
// writers (the shim) close them.
func (r *Runtime) copyOut(fifos *cio.FIFOSet, out agent.Output) (cio.IO, error) {
	dio, err := cio.NewDirectIO(r.ctx, fifos)
	if err != nil {
		out.Stdout.Close()
		out.Stderr.Close()
		return nil, fmt.Errorf("open output FIFOs: %w", err)
	}
	pump := func(dst io.WriteCloser, src io.ReadCloser) {
		defer r.wg.Done()
		defer dst.Close()
		if src == nil {
			return
		}
		// Close unblocks the copy when the runtime closes (the FIFOs stay
		// for the next agent to attach to).
		stop := context.AfterFunc(r.ctx, func() { src.Close() })
		defer stop()
		defer src.Close()
		var buf [32 << 10]byte
		_, _ = io.CopyBuffer(dst, src, buf[:])
	}
	r.wg.Add(2)
	go pump(out.Stdout, dio.Stdout)
	go pump(out.Stderr, dio.Stderr)
	return dio, nil
}

// Attach resumes streaming a running worker's output.
func (r *Runtime) Attach(ctx context.Context, id string, out agent.Output) error {
	ctx = r.ns(ctx)
	c, err := r.load(ctx, id)
	if err != nil {
		out.Stdout.Close()
		out.Stderr.Close()
		return err
	}
	if _, err := c.Task(ctx, r.attacher(out)); err != nil {
		return fmt.Errorf("attach to task of %s: %w", id, err)
	}
	return nil
}

// load loads a container and refuses one without esb's label.
func (r *Runtime) load(ctx context.Context, id string) (containerd.Container, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("container %s: %w", id, agent.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return nil, fmt.Errorf("labels of container %s: %w", id, err)
	}
	if !agent.IsWorker(labels) {
		return nil, fmt.Errorf("container %s is not an esb worker (labels %s=true and %s); esb leaves it alone: %w", id, agent.LabelManaged, agent.LabelCreatedAt, agent.ErrNotManaged)
	}
	return c, nil
}

// Remove kills and deletes a worker, its network attachment and snapshot.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	return r.remove(ctx, c)
}

func (r *Runtime) remove(ctx context.Context, c containerd.Container) error {
	id := c.ID()
	labels, err := c.Labels(ctx)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("labels of %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	switch {
	case cerrdefs.IsNotFound(err):
		task = nil
	case err != nil:
		return fmt.Errorf("load task of %s: %w", id, err)
	}
	if task != nil {
		st, err := task.Status(ctx)
		if err == nil && (st.Status == containerd.Running || st.Status == containerd.Paused || st.Status == containerd.Pausing || st.Status == containerd.Created) {
			exitC, werr := task.Wait(ctx)
			if kerr := task.Kill(ctx, syscall.SIGKILL); kerr != nil && !cerrdefs.IsNotFound(kerr) {
				return fmt.Errorf("kill task of %s: %w", id, kerr)
			}
			if st.Status != containerd.Running && st.Status != containerd.Created {
				_ = task.Resume(ctx) // a frozen task dies only once thawed
			}
			if werr == nil {
				select {
				case <-exitC:
				case <-time.After(10 * time.Second):
				}
			}
		}
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("delete task of %s: %w", id, err)
		}
	}
	r.dropNetNS(ctx, id, labels[labelNetNS])
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	os.RemoveAll(filepath.Join(r.fifoRoot, id))
	return nil
}

// Pause freezes a worker.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	task, err := r.task(ctx, id)
	if err != nil {
		return err
	}
	return task.Pause(ctx)
}

// Resume thaws a worker.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	task, err := r.task(ctx, id)
	if err != nil {
		return err
	}
	return task.Resume(ctx)
}

func (r *Runtime) task(ctx context.Context, id string) (containerd.Task, error) {
	c, err := r.load(ctx, id)
	if err != nil {
		return nil, err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("task of %s: %w", id, err)
	}
	return task, nil
}

// List reports esb's containers with their task states, in two calls.
func (r *Runtime) List(ctx context.Context, f agent.Filter) ([]agent.Container, error) {
	ctx = r.ns(ctx)
	filter := `labels."` + agent.LabelManaged + `"==true,labels."` + agent.LabelCreatedAt + `"`
	if f.Function != "" {
		filter += `,labels."` + agent.LabelFunction + `"==` + strconv.Quote(f.Function)
	}
	if f.Project != "" {
		filter += `,labels."` + agent.LabelProject + `"==` + strconv.Quote(f.Project)
	}
	if f.ID != "" {
		filter += `,id==` + strconv.Quote(f.ID)
	}
	cs, err := r.client.ContainerService().List(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("containerd container list: %w", err)
	}
	tl, err := r.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("containerd task list: %w", err)
	}
	states := make(map[string]tasktypes.Status, len(tl.Tasks))
	for _, t := range tl.Tasks {
		states[t.ID] = t.Status
	}
	out := make([]agent.Container, 0, len(cs))
	for _, c := range cs {
		out = append(out, summary(c, states))
	}
	return out, nil
}

func summary(c containers.Container, states map[string]tasktypes.Status) agent.Container {
	created := agent.ParseCreatedAt(c.Labels)
	if created.IsZero() {
		created = c.CreatedAt
	}
	mem, _ := strconv.Atoi(c.Labels[agent.LabelMemoryMB])
	st, ok := states[c.ID]
	state := agent.StateCreated
	if ok {
		state = taskState(st)
	}
	return agent.Container{
		ID: c.ID, Name: c.ID, Function: c.Labels[agent.LabelFunction], Project: c.Labels[agent.LabelProject],
		State: state, CreatedAt: created, IP: c.Labels[agent.LabelIP], Image: c.Image, Labels: c.Labels, MemoryMB: mem,
	}
}

func taskState(s tasktypes.Status) string {
	switch s {
	case tasktypes.Status_CREATED:
		return agent.StateCreated
	case tasktypes.Status_RUNNING:
		return agent.StateRunning
	case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return agent.StatePaused
	case tasktypes.Status_STOPPED:
		return agent.StateExited
	}
	return agent.StateUnknown
}

// Metrics reads a worker's cgroup.
func (r *Runtime) Metrics(ctx context.Context, id string) (agent.Metrics, error) {
	ctx = r.ns(ctx)
	c, err := r.load(ctx, id)
	if err != nil {
		return agent.Metrics{}, err
	}
	labels, _ := c.Labels(ctx)
	m := agent.Metrics{ID: id, Function: labels[agent.LabelFunction], State: agent.StateCreated}
	task, err := c.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("task of %s: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return m, fmt.Errorf("status of %s: %w", id, err)
	}
	switch st.Status {
	case containerd.Running:
		m.State = agent.StateRunning
	case containerd.Paused, containerd.Pausing:
		m.State = agent.StatePaused
	case containerd.Stopped:
		m.State = agent.StateExited
		m.ExitCode = int(st.ExitStatus)
		return m, nil
	}
	cs, err := r.cg.Pid(int(task.Pid()))
	if err != nil {
		return m, fmt.Errorf("cgroup of %s: %w", id, err)
	}
	m.MemoryCurrentBytes, m.MemoryMaxBytes, m.OOMEvents, m.CPUUsageNs = cs.MemoryCurrentBytes, cs.MemoryMaxBytes, cs.OOMEvents, cs.CPUUsageNs
	return m, nil
}
