package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/gateway/apigw"
	"github.com/edgeserverlessbox/esb/internal/gateway/route"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// processAgent is an agent whose "containers" are esb-rie host processes
// running a given bootstrap: the real runtime path without a container
// engine, for benchmarks.
type processAgent struct {
	rie, bootstrap string

	mu    sync.Mutex
	procs map[string]*exec.Cmd
	addrs map[string]string
	next  int
}

func (a *processAgent) EnsureContainer(ctx context.Context, in *agentv1.EnsureContainerRequest, _ ...grpc.CallOption) (*agentv1.EnsureContainerResponse, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(a.rie, "--listen", addr, "--runtime-api-address", "127.0.0.1:0", a.bootstrap)
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range in.Env {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("esb-rie did not come up on %s", addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.mu.Lock()
	a.next++
	id := "p" + strconv.Itoa(a.next)
	a.procs[id] = cmd
	a.addrs[id] = addr
	a.mu.Unlock()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return &agentv1.EnsureContainerResponse{Worker: &agentv1.WorkerInfo{Id: id, Ip: host, Port: int32(p), Function: in.Function}}, nil
}

func (a *processAgent) DestroyContainer(_ context.Context, in *agentv1.DestroyContainerRequest, _ ...grpc.CallOption) (*agentv1.DestroyContainerResponse, error) {
	a.mu.Lock()
	cmd := a.procs[in.Id]
	delete(a.procs, in.Id)
	delete(a.addrs, in.Id)
	a.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	return &agentv1.DestroyContainerResponse{}, nil
}

func (a *processAgent) ListContainers(_ context.Context, in *agentv1.ListContainersRequest, _ ...grpc.CallOption) (*agentv1.ListContainersResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := &agentv1.ListContainersResponse{}
	for id := range a.procs {
		out.Containers = append(out.Containers, &agentv1.ContainerSummary{Id: id, Project: in.Project, Status: "running", CreatedAtMs: time.Now().UnixMilli()})
	}
	return out, nil
}

func (a *processAgent) PauseContainer(context.Context, *agentv1.PauseContainerRequest, ...grpc.CallOption) (*agentv1.PauseContainerResponse, error) {
	return &agentv1.PauseContainerResponse{}, nil
}

func (a *processAgent) ResumeContainer(context.Context, *agentv1.ResumeContainerRequest, ...grpc.CallOption) (*agentv1.ResumeContainerResponse, error) {
	return &agentv1.ResumeContainerResponse{}, nil
}

func (a *processAgent) Health(context.Context, *agentv1.HealthRequest, ...grpc.CallOption) (*agentv1.HealthResponse, error) {
	return &agentv1.HealthResponse{Serving: true}, nil
}

func (a *processAgent) GetContainerMetrics(context.Context, *agentv1.GetContainerMetricsRequest, ...grpc.CallOption) (*agentv1.GetContainerMetricsResponse, error) {
	return &agentv1.GetContainerMetricsResponse{}, nil
}

func goBuild(b *testing.B, out, pkg string) {
	b.Helper()
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", pkg, err, o)
	}
}

// BenchmarkWarmInvokeESBRIE is the issue's comparison: a warm invoke of an
// aws-lambda-go echo (workertest/lambdaecho) running under the real esb-rie
// (host processes, no container engine), directly vs. through the gateway.
//
//	go test ./internal/gateway -run XXX -bench WarmInvokeESBRIE -benchtime 5000x
func BenchmarkWarmInvokeESBRIE(b *testing.B) {
	const conns = 32
	dir := b.TempDir()
	rie, echo := filepath.Join(dir, "esb-rie"), filepath.Join(dir, "bootstrap")
	goBuild(b, rie, "./cmd/esb-rie")
	goBuild(b, echo, "./internal/gateway/worker/workertest/lambdaecho")
	ag := &processAgent{rie: rie, bootstrap: echo, procs: map[string]*exec.Cmd{}, addrs: map[string]string{}}

	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"echo": {Image: "echo:latest", Timeout: 30, MemorySize: 128, Scaling: manifest.Scaling{MaxCapacity: conns, MinCapacity: conns}},
	}}
	rt := manifest.Routing{Routes: []manifest.Route{{Path: "/hello", Method: "get", Function: "echo"}}}
	fp, rp := filepath.Join(dir, "functions.yml"), filepath.Join(dir, "routing.yml")
	manifest.Save(fp, fns)
	manifest.Save(rp, rt)
	g, err := New(Config{
		FunctionsFile: fp, RoutingFile: rp, HTTPAddr: "127.0.0.1:0", Project: "bench",
		APIKey: "k", JWTSecret: "0123456789abcdef0123456789abcdef", AuthUser: "u", AuthPass: "p",
		WatchInterval: -1, AccessLog: true, AccessLogWriter: io.Discard, Logger: jsonLogger(benchLog()),
	}, ag)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ag.mu.Lock()
		n := len(ag.addrs)
		ag.mu.Unlock()
		if n >= conns {
			break
		}
	}
	ag.mu.Lock()
	var urls []string
	for _, a := range ag.addrs {
		urls = append(urls, "http://"+a+"/2015-03-31/functions/function/invocations")
	}
	ag.mu.Unlock()
	if len(urls) < conns {
		b.Fatalf("only %d warm esb-rie workers", len(urls))
	}
	token, _ := g.auth.Issue("u", time.Now())
	base := "http://" + g.Addr("http").String()
	payload := []byte(`{"hello":"world"}`)
	direct := func(c int) (*http.Request, error) {
		return http.NewRequest("POST", urls[c%len(urls)], bytes.NewReader(payload))
	}
	invoke := func(int) (*http.Request, error) {
		return http.NewRequest("POST", base+"/2015-03-31/functions/echo/invocations", bytes.NewReader(payload))
	}
	rest := func(int) (*http.Request, error) {
		r, err := http.NewRequest("GET", base+"/hello", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return r, err
	}
	// The REST route's baseline is the same API Gateway event sent straight
	// to the worker: the function does the same work in both.
	hdr := http.Header{"Authorization": {"Bearer " + token}, "User-Agent": {"Go-http-client/1.1"}, "Accept-Encoding": {"gzip"}}
	var m route.Match
	g.state.Load().routes.Lookup("GET", "/hello", &m)
	event := apigw.AppendEventV1(nil, &apigw.Request{Method: "GET", Path: "/hello", RawPath: "/hello", Header: hdr,
		Host: g.Addr("http").String(), Proto: "HTTP/1.1", Scheme: "http", Port: "80", SourceIP: "127.0.0.1",
		Target: m.Target, RequestID: "3f0e4a0b-1c2d-4e5f-8a9b-0c1d2e3f4a5b", TraceID: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
		Time: time.Now(), Claims: map[string]string{"sub": "7d8ca528-4931-4254-9273-ea5ee853f271", "cognito:username": "u"}, AccountID: "123456789012", APIID: "esbrestapi"})
	directREST := func(c int) (*http.Request, error) {
		return http.NewRequest("POST", urls[c%len(urls)], bytes.NewReader(event))
	}
	n := max(b.N, 200)
	load(2000, conns, direct)
	load(2000, conns, invoke)
	load(2000, conns, rest)
	b.ResetTimer()
	runPhasesWithBaselines(b, n, conns, []string{"direct", "invoke", "direct_rest_event", "rest"},
		[]func(int) (*http.Request, error){direct, invoke, directREST, rest}, []int{0, 0, 2, 2})
	b.ReportMetric(0, "ns/op")
}

func benchLog() io.Writer {
	if os.Getenv("ESB_BENCH_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
