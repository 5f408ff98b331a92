package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/gateway/certs"
	"github.com/edgeserverlessbox/esb/internal/gateway/worker/workertest"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// fakeAgent starts an in-process fake esb-rie (workertest) per container.
// The handler is chosen by the function's image.
type fakeAgent struct {
	mu       sync.Mutex
	handlers map[string]workertest.Handler
	timeouts map[string]time.Duration
	workers  map[string]*workertest.Worker
	meta     map[string]*agentv1.ContainerSummary
	next     int
	ensured  map[string]int
	maxLive  map[string]int
	envs     map[string]map[string]string
	down     bool
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{handlers: map[string]workertest.Handler{}, timeouts: map[string]time.Duration{},
		workers: map[string]*workertest.Worker{}, meta: map[string]*agentv1.ContainerSummary{},
		ensured: map[string]int{}, maxLive: map[string]int{}, envs: map[string]map[string]string{}}
}

func (a *fakeAgent) handle(image string, h workertest.Handler) {
	a.mu.Lock()
	a.handlers[image] = h
	a.mu.Unlock()
}

func (a *fakeAgent) setDown(down bool) {
	a.mu.Lock()
	a.down = down
	a.mu.Unlock()
}

var errDown = status.Error(codes.Unavailable, "connection refused")

func (a *fakeAgent) EnsureContainer(_ context.Context, in *agentv1.EnsureContainerRequest, _ ...grpc.CallOption) (*agentv1.EnsureContainerResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return nil, errDown
	}
	h := a.handlers[in.Image]
	if h == nil {
		return nil, status.Errorf(codes.NotFound, "image %s not found", in.Image)
	}
	w := workertest.New(h)
	w.Timeout = time.Duration(in.TimeoutSeconds) * time.Second
	if d, ok := a.timeouts[in.Image]; ok {
		w.Timeout = d
	}
	a.next++
	id := fmt.Sprintf("c%d", a.next)
	a.workers[id] = w
	host, port, _ := net.SplitHostPort(w.Server.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	a.meta[id] = &agentv1.ContainerSummary{Id: id, Function: in.Function, Project: in.Project, Status: "running",
		CreatedAtMs: time.Now().UnixMilli(), Ip: host, Port: int32(p)}
	a.ensured[in.Function]++
	a.envs[in.Function] = in.Env
	n := 0
	for _, m := range a.meta {
		if m.Function == in.Function {
			n++
		}
	}
	a.maxLive[in.Function] = max(a.maxLive[in.Function], n)
	return &agentv1.EnsureContainerResponse{Worker: &agentv1.WorkerInfo{Id: id, Name: "esb-" + id, Ip: host, Port: int32(p), Function: in.Function}}, nil
}

func (a *fakeAgent) DestroyContainer(_ context.Context, in *agentv1.DestroyContainerRequest, _ ...grpc.CallOption) (*agentv1.DestroyContainerResponse, error) {
	a.mu.Lock()
	w := a.workers[in.Id]
	delete(a.workers, in.Id)
	delete(a.meta, in.Id)
	a.mu.Unlock()
	if w != nil {
		go w.Close() // Close waits for the worker's in-flight request
	}
	return &agentv1.DestroyContainerResponse{}, nil
}

func (a *fakeAgent) ListContainers(_ context.Context, in *agentv1.ListContainersRequest, _ ...grpc.CallOption) (*agentv1.ListContainersResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return nil, errDown
	}
	var out []*agentv1.ContainerSummary
	for _, m := range a.meta {
		if in.Project == "" || in.Project == m.Project {
			out = append(out, m)
		}
	}
	return &agentv1.ListContainersResponse{Containers: out}, nil
}

func (a *fakeAgent) PauseContainer(context.Context, *agentv1.PauseContainerRequest, ...grpc.CallOption) (*agentv1.PauseContainerResponse, error) {
	return &agentv1.PauseContainerResponse{}, nil
}

func (a *fakeAgent) ResumeContainer(context.Context, *agentv1.ResumeContainerRequest, ...grpc.CallOption) (*agentv1.ResumeContainerResponse, error) {
	return &agentv1.ResumeContainerResponse{}, nil
}

func (a *fakeAgent) Health(context.Context, *agentv1.HealthRequest, ...grpc.CallOption) (*agentv1.HealthResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return nil, errDown
	}
	return &agentv1.HealthResponse{Serving: true}, nil
}

func (a *fakeAgent) GetContainerMetrics(context.Context, *agentv1.GetContainerMetricsRequest, ...grpc.CallOption) (*agentv1.GetContainerMetricsResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*agentv1.ContainerMetrics
	for id, m := range a.meta {
		out = append(out, &agentv1.ContainerMetrics{Id: id, Function: m.Function, State: "running", MemoryCurrentBytes: 1 << 20, MemoryMaxBytes: 128 << 20, CpuUsageNs: 1000})
	}
	return &agentv1.GetContainerMetricsResponse{Metrics: out}, nil
}

func (a *fakeAgent) live() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.meta)
}

func (a *fakeAgent) closeAll() {
	a.mu.Lock()
	ws := a.workers
	a.workers = map[string]*workertest.Worker{}
	a.mu.Unlock()
	for _, w := range ws {
		w.Close()
	}
}

// env is a running test gateway.
type env struct {
	t       *testing.T
	g       *Gateway
	agent   *fakeAgent
	cfg     Config
	dir     string
	https   string // https://127.0.0.1:port
	http    string // http://127.0.0.1:port
	client  *http.Client
	token   string
	apiKey  string
	user    string
	pass    string
	secret  string
	logBuf  *bytes.Buffer
	logMu   *sync.Mutex
	fnsFile string
	rtFile  string
}

func writeManifests(t *testing.T, dir string, fns manifest.Functions, rt manifest.Routing) (string, string) {
	t.Helper()
	fp, rp := filepath.Join(dir, manifest.FunctionsFile), filepath.Join(dir, manifest.RoutingFile)
	if err := manifest.Save(fp, fns); err != nil {
		t.Fatal(err)
	}
	if err := manifest.Save(rp, rt); err != nil {
		t.Fatal(err)
	}
	return fp, rp
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startGateway runs a gateway on 127.0.0.1:0 (HTTPS and HTTP) with auth on.
func startGateway(t *testing.T, ag *fakeAgent, fns manifest.Functions, rt manifest.Routing, mod func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	fp, rp := writeManifests(t, dir, fns, rt)
	e := &env{t: t, agent: ag, dir: dir, apiKey: "test-api-key", user: "alice", pass: "wonderland",
		secret: "0123456789abcdef0123456789abcdef", logBuf: &bytes.Buffer{}, logMu: &sync.Mutex{}, fnsFile: fp, rtFile: rp}
	cfg := Config{
		FunctionsFile: fp, RoutingFile: rp, HTTPSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		CertDir: filepath.Join(dir, "certs"), Project: "test",
		APIKey: e.apiKey, JWTSecret: e.secret, AuthUser: e.user, AuthPass: e.pass,
		AcquireTimeout: 2 * time.Second, WatchInterval: -1,
		AsyncRetryDelays: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond},
		AccessLog:        true,
	}
	cfg.Logger = jsonLogger(syncWriter{e.logMu, e.logBuf})
	cfg.AccessLogWriter = syncWriter{e.logMu, e.logBuf}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg, ag)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.g, e.cfg = g, g.cfg
	if a := g.Addr("https"); a != nil {
		e.https = "https://" + a.String()
	}
	if a := g.Addr("http"); a != nil {
		e.http = "http://" + a.String()
	}
	pool, err := certs.Pool(cfg.CertDir)
	if err == nil {
		e.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}}
	} else {
		e.client = &http.Client{}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.client.CloseIdleConnections() // else HTTP/2's GOAWAY makes Shutdown wait 1 s
		g.Shutdown(ctx)
		ag.closeAll()
	})
	return e
}

func (e *env) login() string {
	e.t.Helper()
	body := fmt.Sprintf(`{"AuthParameters":{"USERNAME":%q,"PASSWORD":%q}}`, e.user, e.pass)
	req, _ := http.NewRequest("POST", e.https+"/user/auth/ver1.0", bytes.NewBufferString(body))
	req.Header.Set("x-api-key", e.apiKey)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ AuthenticationResult struct{ IdToken string } }
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 || out.AuthenticationResult.IdToken == "" {
		e.t.Fatalf("login: %d", resp.StatusCode)
	}
	e.token = out.AuthenticationResult.IdToken
	return e.token
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(method, url string, body []byte, hdr map[string]string) result {
	e.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}
}

func (e *env) logs() string {
	if e.g != nil && e.g.access != nil {
		e.g.access.flush()
	}
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.logBuf.String()
}

// proxyEcho answers with a REST proxy response whose body is the event.
func proxyEcho(c *workertest.Call) workertest.Reply {
	out, _ := json.Marshal(map[string]any{"statusCode": 200, "headers": map[string]string{"Content-Type": "application/json"}, "body": string(c.Payload)})
	return workertest.Reply{Payload: out}
}

func oneFunction(name, image string, max int) manifest.Functions {
	return manifest.Functions{Functions: map[string]manifest.Function{
		name: {Image: image, Timeout: 3, MemorySize: 128, Scaling: manifest.Scaling{MaxCapacity: max}},
	}}
}

func jsonLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
