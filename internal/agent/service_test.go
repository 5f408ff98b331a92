package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRuntime is a Runtime whose "containers" are HTTP servers on distinct
// loopback addresses (127.0.x.y:8080), so the real readiness probe runs.
type fakeRuntime struct {
	mu         sync.Mutex
	next       int
	containers map[string]*fakeContainer
	// behaviour of the next Start
	startErr   error
	exitCode   int  // exit at once with this code when exit is set
	exit       bool //
	noListen   bool // never become ready
	healthFail int  // answer /healthz with 503 this many times first
	specs      []Spec
	attached   []string
}

type fakeContainer struct {
	c      Container
	srv    *http.Server
	out    Output
	paused bool
}

func newFake() *fakeRuntime { return &fakeRuntime{containers: map[string]*fakeContainer{}} }

func (f *fakeRuntime) Mode() string                                { return "fake" }
func (f *fakeRuntime) Version(ctx context.Context) (string, error) { return "1.0", nil }
func (f *fakeRuntime) Close() error                                { return nil }

func (f *fakeRuntime) Start(ctx context.Context, spec Spec, out Output) (Started, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, spec)
	if f.startErr != nil {
		out.Stdout.Close()
		out.Stderr.Close()
		return Started{}, f.startErr
	}
	f.next++
	id := fmt.Sprintf("c%d", f.next)
	out.Created(id)
	exited := make(chan Exit, 1)
	fc := &fakeContainer{out: out, c: Container{ID: id, Name: spec.Name, Function: spec.Function, Project: spec.Project,
		State: StateRunning, CreatedAt: ParseCreatedAt(spec.Labels), Labels: spec.Labels, Image: spec.Image}}
	fmt.Fprintf(out.Stdout, "starting %s\npartial", spec.Function)
	fmt.Fprintf(out.Stderr, "warming up\r\n")
	switch {
	case f.exit:
		fmt.Fprintf(out.Stdout, " line\n")
		fmt.Fprintf(out.Stderr, "fatal: no handler\n")
		out.Stdout.Close()
		out.Stderr.Close()
		fc.c.State = StateExited
		exited <- Exit{Code: f.exitCode}
		fc.c.IP = "127.0.0.1"
	case f.noListen:
		fc.c.IP = fmt.Sprintf("127.0.%d.%d", 200+f.next/250, f.next%250+1)
	default:
		for {
			ip := fmt.Sprintf("127.0.%d.%d", 100+f.next/250, f.next%250+1)
			l, err := net.Listen("tcp", net.JoinHostPort(ip, "8080"))
			if err != nil {
				f.next++
				continue
			}
			fc.c.IP = ip
			fails := f.healthFail
			var hmu sync.Mutex
			fc.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hmu.Lock()
				defer hmu.Unlock()
				if fails > 0 {
					fails--
					w.WriteHeader(503)
					return
				}
				io.WriteString(w, "ok")
			})}
			go fc.srv.Serve(l)
			break
		}
	}
	f.containers[id] = fc
	return Started{ID: id, Name: spec.Name, IP: fc.c.IP, Exited: exited}, nil
}

func (f *fakeRuntime) get(id string) (*fakeContainer, error) {
	fc, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if fc.c.Labels[LabelManaged] != "true" {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotManaged)
	}
	return fc, nil
}

func (f *fakeRuntime) Attach(ctx context.Context, id string, out Output) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached = append(f.attached, id)
	fmt.Fprintf(out.Stdout, "after restart\n")
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, err := f.get(id)
	if err != nil {
		return err
	}
	if fc.srv != nil {
		fc.srv.Close()
	}
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) List(ctx context.Context, flt Filter) ([]Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Container
	for _, fc := range f.containers {
		if fc.c.Labels[LabelManaged] != "true" ||
			(flt.Function != "" && fc.c.Function != flt.Function) || (flt.Project != "" && fc.c.Project != flt.Project) {
			continue
		}
		c := fc.c
		c.MemoryMB = 0
		fmt.Sscan(c.Labels[LabelMemoryMB], &c.MemoryMB)
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeRuntime) setState(id, state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, err := f.get(id)
	if err != nil {
		return err
	}
	fc.c.State = state
	return nil
}

func (f *fakeRuntime) Pause(ctx context.Context, id string) error { return f.setState(id, StatePaused) }
func (f *fakeRuntime) Resume(ctx context.Context, id string) error {
	return f.setState(id, StateRunning)
}

func (f *fakeRuntime) Metrics(ctx context.Context, id string) (Metrics, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, err := f.get(id)
	if err != nil {
		return Metrics{}, err
	}
	var mb uint64
	fmt.Sscan(fc.c.Labels[LabelMemoryMB], &mb)
	return Metrics{ID: id, Function: fc.c.Function, State: fc.c.State, MemoryMaxBytes: mb << 20, MemoryCurrentBytes: 1 << 20}, nil
}

// memSink records lines.
type memSink struct {
	mu    sync.Mutex
	lines []string
}

func (m *memSink) WriteLine(l LogLine) {
	m.mu.Lock()
	m.lines = append(m.lines, l.Function+"|"+l.ContainerID+"|"+l.Stream+"|"+string(l.Text))
	m.mu.Unlock()
}

func (m *memSink) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.lines...)
}

func newTestService(t *testing.T, rt Runtime, mod func(*Config)) (*Service, *memSink) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ReadinessTimeout = 2 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	sink := &memSink{}
	return New(cfg, rt, sink, slog.New(slog.NewTextHandler(io.Discard, nil))), sink
}

func ensureReq(fn string) EnsureRequest {
	return EnsureRequest{Function: fn, Project: "demo", Image: "esb-" + strings.ToLower(fn) + ":latest", MemoryMB: 128,
		Env: map[string]string{"B": "2", "A": "1"}, Labels: map[string]string{"esb.managed": "false", "team": "x"}}
}

func TestEnsureReadyWorker(t *testing.T) {
	rt := newFake()
	rt.healthFail = 2 // 503 twice: not ready yet
	svc, sink := newTestService(t, rt, nil)
	w, err := svc.Ensure(context.Background(), ensureReq("Hello"))
	if err != nil {
		t.Fatal(err)
	}
	if w.ID != "c1" || w.Port != 8080 || w.Function != "Hello" || !strings.HasPrefix(w.IP, "127.0.") {
		t.Fatalf("worker: %+v", w)
	}
	spec := rt.specs[0]
	if spec.MemoryBytes != 128<<20 || spec.TmpBytes != 512<<20 || spec.CPUShares != 74 || spec.PidsLimit != 1024 {
		t.Errorf("limits: %+v", spec)
	}
	if strings.Join(spec.Env, ",") != "A=1,B=2" {
		t.Errorf("env %v, want sorted A=1,B=2", spec.Env)
	}
	if spec.Labels[LabelManaged] != "true" || spec.Labels[LabelFunction] != "Hello" || spec.Labels[LabelProject] != "demo" ||
		spec.Labels["team"] != "x" || ParseCreatedAt(spec.Labels).IsZero() || spec.Labels[LabelMemoryMB] != "128" {
		t.Errorf("labels: %v", spec.Labels)
	}
	if !strings.HasPrefix(spec.Name, "esb-demo-hello-") {
		t.Errorf("name %q", spec.Name)
	}
	got := strings.Join(sink.all(), "\n")
	if !strings.Contains(got, "Hello|c1|stdout|starting Hello") || !strings.Contains(got, "Hello|c1|stderr|warming up") {
		t.Errorf("sink got:\n%s", got)
	}
	if svc.Destroy(context.Background(), w.ID) != nil {
		t.Fatal("destroy")
	}
}

func TestEnsureWorkerExits(t *testing.T) {
	rt := newFake()
	rt.exit, rt.exitCode = true, 7
	svc, _ := newTestService(t, rt, nil)
	_, err := svc.Ensure(context.Background(), ensureReq("Broken"))
	if !errors.Is(err, ErrWorkerExited) {
		t.Fatalf("err = %v, want ErrWorkerExited", err)
	}
	for _, want := range []string{"exit code 7", "stdout: starting Broken", "stdout: partial line", "stderr: fatal: no handler", "function Broken", "esb-broken:latest"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if len(rt.containers) != 0 {
		t.Error("the failed worker was not removed")
	}
	if code := statusCode(err); code != "FailedPrecondition" {
		t.Errorf("gRPC code %s", code)
	}
}

func TestEnsureReadinessTimeout(t *testing.T) {
	rt := newFake()
	rt.noListen = true
	svc, _ := newTestService(t, rt, func(c *Config) { c.ReadinessTimeout = 300 * time.Millisecond })
	start := time.Now()
	_, err := svc.Ensure(context.Background(), ensureReq("Slow"))
	if !errors.Is(err, ErrReadinessTimeout) {
		t.Fatalf("err = %v, want ErrReadinessTimeout", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %s", d)
	}
	if !strings.Contains(err.Error(), "READINESS_TIMEOUT") || !strings.Contains(err.Error(), "stdout: starting Slow") {
		t.Errorf("error: %v", err)
	}
	if len(rt.containers) != 0 {
		t.Error("the worker that never got ready was not removed")
	}
	if code := statusCode(err); code != "DeadlineExceeded" {
		t.Errorf("gRPC code %s", code)
	}
}

func TestEnsureImageMissing(t *testing.T) {
	rt := newFake()
	rt.startErr = fmt.Errorf("no such image: %w", ErrImageNotFound)
	svc, _ := newTestService(t, rt, nil)
	_, err := svc.Ensure(context.Background(), ensureReq("Ghost"))
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), "esb build") || !strings.Contains(err.Error(), "esb-ghost:latest") {
		t.Fatalf("err = %v", err)
	}
	if code := statusCode(err); code != "NotFound" {
		t.Errorf("gRPC code %s", code)
	}
}

func TestEnsureValidation(t *testing.T) {
	svc, _ := newTestService(t, newFake(), nil)
	for name, mod := range map[string]func(*EnsureRequest){
		"function":  func(r *EnsureRequest) { r.Function = "" },
		"image":     func(r *EnsureRequest) { r.Image = "" },
		"memory_mb": func(r *EnsureRequest) { r.MemoryMB = 0 },
		"10241":     func(r *EnsureRequest) { r.MemoryMB = 10241 },
		"tmp_mb":    func(r *EnsureRequest) { r.TmpMB = -1 },
		"variable":  func(r *EnsureRequest) { r.Env = map[string]string{"A=B": "1"} },
	} {
		r := ensureReq("Fn")
		mod(&r)
		_, err := svc.Ensure(context.Background(), r)
		if !errors.Is(err, ErrInvalidArgument) || statusCode(err) != "InvalidArgument" {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestCapacity(t *testing.T) {
	rt := newFake()
	svc, _ := newTestService(t, rt, func(c *Config) { c.CapacityMemoryMB = 300 })
	ctx := context.Background()
	a, err := svc.Ensure(ctx, ensureReq("A"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Ensure(ctx, ensureReq("B")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Ensure(ctx, ensureReq("C")); !errors.Is(err, ErrCapacity) || statusCode(err) != "ResourceExhausted" {
		t.Fatalf("third worker: %v", err)
	}
	if err := svc.Destroy(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Ensure(ctx, ensureReq("C")); err != nil {
		t.Fatalf("after a destroy: %v", err)
	}
	in, err := svc.Info(ctx)
	if err != nil || in.Containers != 2 || in.CapacityMemoryMB != 300 || in.Mode != "fake" {
		t.Fatalf("info %+v %v", in, err)
	}
}

func TestListPauseResumeMetricsDestroy(t *testing.T) {
	rt := newFake()
	svc, _ := newTestService(t, rt, nil)
	ctx := context.Background()
	w, err := svc.Ensure(ctx, ensureReq("Hello"))
	if err != nil {
		t.Fatal(err)
	}
	other := ensureReq("Other")
	other.Project = "elsewhere"
	if _, err := svc.Ensure(ctx, other); err != nil {
		t.Fatal(err)
	}
	l, err := svc.List(ctx, Filter{Project: "demo"})
	if err != nil || len(l) != 1 || l[0].ID != w.ID || l[0].Port != 8080 || l[0].LastUsedAt.Before(l[0].CreatedAt) {
		t.Fatalf("list: %+v %v", l, err)
	}
	if err := svc.Pause(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	used := l[0].LastUsedAt
	time.Sleep(2 * time.Millisecond)
	if err := svc.Resume(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	l, _ = svc.List(ctx, Filter{Function: "Hello"})
	if !l[0].LastUsedAt.After(used) {
		t.Error("resume did not update last_used_at")
	}
	ms, err := svc.Metrics(ctx, "")
	if err != nil || len(ms) != 2 || ms[0].MemoryMaxBytes != 128<<20 {
		t.Fatalf("metrics: %+v %v", ms, err)
	}
	if err := svc.Destroy(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.Destroy(ctx, w.ID); err != nil {
		t.Fatalf("destroying a gone container: %v", err)
	}
	if _, err := svc.Metrics(ctx, w.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("metrics of a gone container: %v", err)
	}
	// A container without esb's label is refused.
	rt.containers["foreign"] = &fakeContainer{c: Container{ID: "foreign", Labels: map[string]string{}}}
	if err := svc.Destroy(ctx, "foreign"); !errors.Is(err, ErrNotManaged) || statusCode(err) != "PermissionDenied" {
		t.Fatalf("destroy of a foreign container: %v", err)
	}
	if err := svc.Pause(ctx, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("pause without id: %v", err)
	}
}

func TestRecoverAttachesRunningWorkers(t *testing.T) {
	rt := newFake()
	svc, _ := newTestService(t, rt, nil)
	ctx := context.Background()
	w, err := svc.Ensure(ctx, ensureReq("Hello"))
	if err != nil {
		t.Fatal(err)
	}
	svc2, sink := newTestService(t, rt, nil)
	n, err := svc2.Recover(ctx)
	if err != nil || n != 1 || len(rt.attached) != 1 || rt.attached[0] != w.ID {
		t.Fatalf("recover: %d %v %v", n, err, rt.attached)
	}
	if got := sink.all(); len(got) != 1 || got[0] != "Hello|"+w.ID+"|stdout|after restart" {
		t.Fatalf("sink after recover: %v", got)
	}
}

func statusCode(err error) string {
	s := statusOf(err).Error()
	s = strings.TrimPrefix(s, "rpc error: code = ")
	code, _, _ := strings.Cut(s, " ")
	return code
}

func TestContainerName(t *testing.T) {
	for _, c := range []struct{ project, fn, prefix string }{
		{"demo", "HelloFunction", "esb-demo-hellofunction-"},
		{"", "a__b..c", "esb-a-b-c-"},
		{"My Project!", "-x-", "esb-my-project-x-"},
		{"", "日本", "esb-x-"},
	} {
		got := containerName(c.project, c.fn)
		if !strings.HasPrefix(got, c.prefix) || len(got) != len(c.prefix)+8 {
			t.Errorf("containerName(%q, %q) = %q, want %q + 8 hex", c.project, c.fn, got, c.prefix)
		}
	}
	long := containerName(strings.Repeat("p", 100), strings.Repeat("f", 100))
	if len(long) > 76 {
		t.Errorf("name too long for containerd: %d", len(long))
	}
}

func TestCPUShares(t *testing.T) {
	if CPUShares(1769) != 1024 || CPUShares(128) != 74 || CPUShares(3538) != 2048 {
		t.Errorf("shares: %d %d %d", CPUShares(1769), CPUShares(128), CPUShares(3538))
	}
}

func TestHostAliasesEntries(t *testing.T) {
	got := HostAliases{Extra: map[string]string{"gateway": "10.0.0.9", "extra": "10.0.0.8"}}.Entries("172.18.0.1")
	want := "database=172.18.0.1 extra=10.0.0.8 gateway=10.0.0.9 s3-storage=172.18.0.1 victorialogs=172.18.0.1"
	var parts []string
	for _, e := range got {
		parts = append(parts, e.Name+"="+e.IP)
	}
	if strings.Join(parts, " ") != want {
		t.Errorf("entries %v, want %s", parts, want)
	}
	if e := (HostAliases{HostIP: "192.168.1.5"}).Entries("x"); e[0].IP != "192.168.1.5" {
		t.Errorf("host ip not used: %v", e)
	}
}

func TestIsWorker(t *testing.T) {
	for _, c := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{LabelManaged: "true", LabelCreatedAt: "2026-11-27T16:00:00Z"}, true},
		{map[string]string{LabelManaged: "true"}, false}, // an esb image's labels, copied by Docker
		{map[string]string{LabelManaged: "false", LabelCreatedAt: "x"}, false},
		{nil, false},
	} {
		if got := IsWorker(c.labels); got != c.want {
			t.Errorf("IsWorker(%v) = %v, want %v", c.labels, got, c.want)
		}
	}
}
