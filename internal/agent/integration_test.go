package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/agenttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// integration returns the test daemons' addresses, skipping unless ESB_E2E=1
// and failing when ESB_E2E=1 but a daemon is missing.
func integration(t *testing.T) (dockerHost, containerdAddr string) {
	t.Helper()
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("integration test: set ESB_E2E=1 and start scripts/test-daemons.sh")
	}
	dockerHost, containerdAddr = os.Getenv("ESB_TEST_DOCKER_HOST"), os.Getenv("ESB_TEST_CONTAINERD_ADDRESS")
	if dockerHost == "" || containerdAddr == "" {
		t.Fatal("ESB_TEST_DOCKER_HOST and ESB_TEST_CONTAINERD_ADDRESS must be set: eval \"$(scripts/test-daemons.sh start)\"")
	}
	return dockerHost, containerdAddr
}

var (
	imageOnce sync.Once
	imageTar  []byte
	imageErr  error
	loaded    sync.Map // mode → error
)

// testImages builds the worker image archive once per test binary.
func testImages(t *testing.T) []byte {
	t.Helper()
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "esb-agenttest")
		if err != nil {
			imageErr = err
			return
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		bin, err := agenttest.BuildWorker(ctx, dir)
		if err != nil {
			imageErr = err
			return
		}
		imageTar, imageErr = agenttest.ImageTar(bin)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageTar
}

// recordingSink keeps every line it receives.
type recordingSink struct {
	mu    sync.Mutex
	lines []agent.LogLine
}

func (s *recordingSink) WriteLine(l agent.LogLine) {
	s.mu.Lock()
	l.Text = append([]byte(nil), l.Text...)
	s.lines = append(s.lines, l)
	s.mu.Unlock()
}

func (s *recordingSink) find(containerID, text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if l.ContainerID == containerID && strings.Contains(string(l.Text), text) {
			return true
		}
	}
	return false
}

// harness is one agent (runtime + service + gRPC on a unix socket) under test.
type harness struct {
	client agentv1.AgentServiceClient
	conn   *grpc.ClientConn
	stop   func()
	socket string
}

// mode is one runtime under test.
type mode struct {
	name string
	// newRuntime connects a fresh Runtime (also to simulate an agent restart).
	newRuntime func(t *testing.T) agent.Runtime
	// load puts the test images into the runtime.
	load func(ctx context.Context, archive []byte) error
	// gatewayIP is what host aliases must resolve to.
	gatewayIP func(t *testing.T) string
	// unmanaged creates a container without esb's labels and returns its id
	// and a function telling whether it still exists.
	unmanaged func(t *testing.T) (string, func() bool)
}

func startAgent(t *testing.T, m mode, dir string, sink agent.LogSink) *harness {
	t.Helper()
	rt := m.newRuntime(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := agent.DefaultConfig()
	cfg.ReadinessTimeout = 20 * time.Second
	cfg.Version = "test"
	svc := agent.New(cfg, rt, sink, logger)
	if _, err := svc.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Serve(ctx, svc, agent.ListenConfig{Socket: socket}, logger) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent socket did not appear")
		}
		time.Sleep(5 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{client: agentv1.NewAgentServiceClient(conn), conn: conn, socket: socket}
	h.stop = func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Serve: %v", err)
		}
		rt.Close()
	}
	return h
}

func runIntegration(t *testing.T, m mode) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	archive := testImages(t)
	if err := m.load(ctx, archive); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sink := &recordingSink{}
	project := "agenttest"
	h := startAgent(t, m, dir, sink)
	stopped := false
	defer func() {
		if !stopped {
			h.stop()
		}
	}()

	// Leftovers of an earlier, interrupted run go first; this run's on exit.
	cleanup := func() {
		l, _ := h.client.ListContainers(context.Background(), &agentv1.ListContainersRequest{Project: project})
		for _, c := range l.GetContainers() {
			h.client.DestroyContainer(context.Background(), &agentv1.DestroyContainerRequest{Id: c.Id})
		}
	}
	cleanup()
	defer cleanup()

	if fi, err := os.Stat(h.socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v, want 0600", fi.Mode(), err)
	}
	hr, err := h.client.Health(ctx, &agentv1.HealthRequest{})
	if err != nil || !hr.Serving {
		t.Fatalf("Health: %v %v", hr, err)
	}
	info, err := h.client.Info(ctx, &agentv1.InfoRequest{})
	if err != nil || info.Mode != m.name || info.RuntimeVersion == "" {
		t.Fatalf("Info: %v %v", info, err)
	}

	// Ensure → invoke over HTTP.
	start := time.Now()
	resp, err := h.client.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
		Function: "Hello", Project: project, Image: agenttest.WorkerImage, MemoryMb: 128,
		Env:    map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "Hello", "GREETING": "hi there=1"},
		Labels: map[string]string{"esb.pool": "p1"},
	})
	if err != nil {
		t.Fatalf("EnsureContainer: %v", err)
	}
	t.Logf("%s: EnsureContainer ready in %s", m.name, time.Since(start))
	w := resp.Worker
	if w.Ip == "" || w.Port != 8080 || w.Id == "" || w.Function != "Hello" {
		t.Fatalf("worker info: %+v", w)
	}
	base := fmt.Sprintf("http://%s", net.JoinHostPort(w.Ip, fmt.Sprint(w.Port)))
	hc := &http.Client{Timeout: 5 * time.Second}
	body := httpDo(t, hc, "POST", base+"/2015-03-31/functions/function/invocations", `{"k":"v"}`)
	if !strings.Contains(body, `"function":"Hello"`) || !strings.Contains(body, `"k":"v"`) {
		t.Fatalf("invoke answered %s", body)
	}

	// What the worker sees from inside; "gateway" reaches a listener on the host.
	hostL, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	go func() {
		for {
			c, err := hostL.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hostPort := hostL.Addr().(*net.TCPAddr).Port
	var chk struct {
		Dial       string              `json:"dial"`
		Env        []string            `json:"env"`
		Hosts      map[string][]string `json:"hosts"`
		RootWrite  bool                `json:"root_write"`
		TmpWrite   bool                `json:"tmp_write"`
		CapEff     string              `json:"cap_eff"`
		CapBnd     string              `json:"cap_bnd"`
		NoNewPrivs string              `json:"no_new_privs"`
		Seccomp    string              `json:"seccomp"`
		Keyctl     string              `json:"keyctl"`
	}
	if err := json.Unmarshal([]byte(httpDo(t, hc, "GET", fmt.Sprintf("%s/check?dial=gateway:%d", base, hostPort), "")), &chk); err != nil {
		t.Fatal(err)
	}
	if !contains(chk.Env, "GREETING=hi there=1") || !contains(chk.Env, "AWS_LAMBDA_FUNCTION_NAME=Hello") {
		t.Errorf("env inside the worker: %v", chk.Env)
	}
	gw := m.gatewayIP(t)
	for _, name := range agent.HostAliasNames {
		if got := chk.Hosts[name]; len(got) == 0 || got[0] != gw {
			t.Errorf("%s resolves to %v inside the worker, want %s", name, got, gw)
		}
	}
	if chk.Seccomp != "2" || chk.Keyctl != "operation not permitted" {
		t.Errorf("seccomp: mode %s, keyctl %q; want a filter (2) refusing keyctl", chk.Seccomp, chk.Keyctl)
	}
	if chk.Dial != "ok" {
		t.Errorf("the worker cannot reach the host as gateway:%d: %s", hostPort, chk.Dial)
	}
	if chk.RootWrite || !chk.TmpWrite {
		t.Errorf("root writable=%v (want false), /tmp writable=%v (want true)", chk.RootWrite, chk.TmpWrite)
	}
	if chk.CapEff != "0000000000000000" || chk.CapBnd != "0000000000000000" || chk.NoNewPrivs != "1" {
		t.Errorf("privileges: CapEff=%s CapBnd=%s NoNewPrivs=%s, want none", chk.CapEff, chk.CapBnd, chk.NoNewPrivs)
	}

	// Output streamed to the sink with function and container id.
	t.Cleanup(func() {
		if t.Failed() {
			sink.mu.Lock()
			for _, l := range sink.lines {
				t.Logf("sink: %s %s %s %q", l.Function, l.ContainerID, l.Stream, l.Text)
			}
			sink.mu.Unlock()
		}
	})
	waitFor(t, "worker output in the log sink", func() bool {
		return sink.find(w.Id, "worker listening on :8080") && sink.find(w.Id, "stderr works") && sink.find(w.Id, `invoked with {"k":"v"}`)
	})

	// List and metrics.
	summary := findContainer(t, ctx, h.client, project, w.Id)
	if summary.Status != "running" || summary.Function != "Hello" || summary.Ip != w.Ip || summary.CreatedAtMs == 0 ||
		summary.Labels["esb.pool"] != "p1" || summary.Labels["esb.managed"] != "true" || summary.Labels["esb.created-at"] == "" {
		t.Fatalf("listed: %+v", summary)
	}
	mr, err := h.client.GetContainerMetrics(ctx, &agentv1.GetContainerMetricsRequest{Id: w.Id})
	if err != nil || len(mr.Metrics) != 1 {
		t.Fatalf("GetContainerMetrics: %v %v", mr, err)
	}
	if mt := mr.Metrics[0]; mt.MemoryMaxBytes != 128<<20 || mt.MemoryCurrentBytes == 0 || mt.CpuUsageNs == 0 || mt.State != "running" {
		t.Fatalf("metrics: %+v (want memory_max %d)", mt, 128<<20)
	}

	// Pause / resume.
	if _, err := h.client.PauseContainer(ctx, &agentv1.PauseContainerRequest{Id: w.Id}); err != nil {
		t.Fatalf("PauseContainer: %v", err)
	}
	if s := findContainer(t, ctx, h.client, project, w.Id); s.Status != "paused" {
		t.Fatalf("status after pause: %s", s.Status)
	}
	short := &http.Client{Timeout: 300 * time.Millisecond}
	if r, err := short.Get(base + "/healthz"); err == nil {
		r.Body.Close()
		t.Fatal("a paused worker answered")
	}
	if _, err := h.client.ResumeContainer(ctx, &agentv1.ResumeContainerRequest{Id: w.Id}); err != nil {
		t.Fatalf("ResumeContainer: %v", err)
	}
	httpDo(t, hc, "GET", base+"/healthz", "")

	// Parallel starts (the gateway scales out several workers at once).
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.client.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
				Function: "Parallel", Project: project, Image: agenttest.WorkerImage, MemoryMb: 128,
			})
			if err == nil {
				_, err = h.client.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: r.Worker.Id})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("parallel EnsureContainer/DestroyContainer: %v", err)
		}
	}

	// A paused worker can be destroyed.
	second, err := h.client.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
		Function: "Second", Project: project, Image: agenttest.WorkerImage, MemoryMb: 256, TmpMb: 64,
	})
	if err != nil {
		t.Fatalf("EnsureContainer (second): %v", err)
	}
	if mr, err := h.client.GetContainerMetrics(ctx, &agentv1.GetContainerMetricsRequest{Id: second.Worker.Id}); err != nil || mr.Metrics[0].MemoryMaxBytes != 256<<20 {
		t.Fatalf("metrics of a 256 MB worker: %v %v", mr, err)
	}
	if _, err := h.client.PauseContainer(ctx, &agentv1.PauseContainerRequest{Id: second.Worker.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: second.Worker.Id}); err != nil {
		t.Fatalf("DestroyContainer of a paused worker: %v", err)
	}
	all, err := h.client.GetContainerMetrics(ctx, &agentv1.GetContainerMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range all.Metrics {
		seen[m.Id] = true
	}
	if !seen[w.Id] || seen[second.Worker.Id] {
		t.Fatalf("metrics of all workers after destroying one: %v", all)
	}

	// Agent restart: a new agent finds the worker from labels alone.
	h.stop()
	stopped = true
	h = startAgent(t, m, t.TempDir(), sink)
	stopped = false
	summary = findContainer(t, ctx, h.client, project, w.Id)
	if summary.Status != "running" || summary.Ip != w.Ip || summary.Function != "Hello" {
		t.Fatalf("after restart: %+v", summary)
	}
	httpDo(t, hc, "POST", base+"/2015-03-31/functions/function/invocations", `{"after":"restart"}`)
	waitFor(t, "output after restart in the log sink", func() bool { return sink.find(w.Id, `invoked with {"after":"restart"}`) })
	if _, err := h.client.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: w.Id}); err != nil {
		t.Fatalf("DestroyContainer after restart: %v", err)
	}
	if _, err := h.client.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: w.Id}); err != nil {
		t.Fatalf("DestroyContainer of a gone container: %v", err)
	}
	if l, _ := h.client.ListContainers(ctx, &agentv1.ListContainersRequest{Project: project}); len(l.GetContainers()) != 0 {
		t.Fatalf("containers left after destroy: %v", l.GetContainers())
	}

	// Readiness failure: the error carries the container's last output.
	_, err = h.client.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
		Function: "Broken", Project: project, Image: agenttest.ExitImage, MemoryMb: 128,
	})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "bootstrap failed: boom") ||
		!strings.Contains(err.Error(), "exited before it was ready: exit code 3") {
		t.Fatalf("EnsureContainer of an exiting worker: %v", err)
	}
	t.Logf("%s: readiness failure reads: %v", m.name, err)

	// Missing image: a clear error.
	_, err = h.client.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
		Function: "Ghost", Project: project, Image: "esb-agent-test-missing:latest", MemoryMb: 128,
	})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "esb build") || !strings.Contains(err.Error(), "esb-agent-test-missing:latest") {
		t.Fatalf("EnsureContainer of a missing image: %v", err)
	}
	t.Logf("%s: missing image reads: %v", m.name, err)
	if l, _ := h.client.ListContainers(ctx, &agentv1.ListContainersRequest{Project: project}); len(l.GetContainers()) != 0 {
		t.Fatalf("failed starts left containers: %v", l.GetContainers())
	}

	// Containers without esb's label are never touched.
	id, exists := m.unmanaged(t)
	_, err = h.client.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: id})
	if status.Code(err) != codes.PermissionDenied || !exists() {
		t.Fatalf("DestroyContainer of an unlabelled container: %v (still exists: %v)", err, exists())
	}
	if l, _ := h.client.ListContainers(ctx, &agentv1.ListContainersRequest{}); l != nil {
		for _, c := range l.Containers {
			if c.Id == id {
				t.Fatal("ListContainers reported an unlabelled container")
			}
		}
	}
}

func findContainer(t *testing.T, ctx context.Context, c agentv1.AgentServiceClient, project, id string) *agentv1.ContainerSummary {
	t.Helper()
	l, err := c.ListContainers(ctx, &agentv1.ListContainersRequest{Project: project})
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	for _, s := range l.Containers {
		if s.Id == id {
			return s
		}
	}
	t.Fatalf("ListContainers misses %s: %v", id, l.Containers)
	return nil
}

func httpDo(t *testing.T, c *http.Client, method, url, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	r, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, url, r.StatusCode, b)
	}
	return string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
