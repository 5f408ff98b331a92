package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/gateway/worker/workertest"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestGatewaySettingsDefaults(t *testing.T) {
	s, err := readGatewaySettings(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.HTTPSAddr != ":443" || c.HTTPAddr != ":8080" || c.AuthPath != "/user/auth/ver1.0" || c.JWTTTL != 3000*time.Second ||
		c.IdleTimeout != 300*time.Second || c.HeartbeatInterval != 30*time.Second || c.OrphanGrace != 60*time.Second ||
		c.BreakerThreshold != 5 || c.BreakerRecovery != 30*time.Second || c.AcquireTimeout != 30*time.Second ||
		c.PauseEnabled || c.VerifySigV4 || c.NoRouteStatus != 404 || c.SchedulesDisabled {
		t.Errorf("defaults: %+v", c)
	}
	if s.agentAddr != "unix:///run/esb/agent.sock" {
		t.Errorf("agent address %s", s.agentAddr)
	}
}

func TestGatewaySettingsFromEnv(t *testing.T) {
	s, err := readGatewaySettings(envMap(map[string]string{
		"GATEWAY_PORT": "8443", "GATEWAY_HTTP_PORT": "off", "GATEWAY_BIND_ADDR": "127.0.0.1",
		"POOL_ACQUIRE_TIMEOUT": "5.5", "ENABLE_CONTAINER_PAUSE": "true", "AWS_ACCESS_KEY_ID": "AK",
		"BINARY_MEDIA_TYPES": "image/*, application/pdf", "CONFIG_WATCH_INTERVAL": "0", "SCHEDULES_ENABLED": "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.HTTPSAddr != "127.0.0.1:8443" || c.HTTPAddr != "" || c.AcquireTimeout != 5500*time.Millisecond || !c.PauseEnabled ||
		!c.VerifySigV4 || c.AccessKeyID != "AK" || len(c.BinaryMediaTypes) != 2 || c.WatchInterval >= 0 || !c.SchedulesDisabled {
		t.Errorf("from env: %+v", c)
	}
	_, err = readGatewaySettings(envMap(map[string]string{"HEARTBEAT_INTERVAL": "soon", "ENABLE_SSL": "maybe", "LOG_LEVEL": "LOUD", "SCHEDULES_ENABLED": "sometimes"}))
	for _, want := range []string{"HEARTBEAT_INTERVAL", "ENABLE_SSL", "LOG_LEVEL", "SCHEDULES_ENABLED"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad %s not reported: %v", want, err)
		}
	}
}

// grpcAgent is a minimal agent served over a real gRPC unix socket.
type grpcAgent struct {
	agentv1.UnimplementedAgentServiceServer
	mu      sync.Mutex
	workers map[string]*workertest.Worker
}

func (a *grpcAgent) EnsureContainer(_ context.Context, in *agentv1.EnsureContainerRequest) (*agentv1.EnsureContainerResponse, error) {
	w := workertest.New(func(c *workertest.Call) workertest.Reply {
		return workertest.Reply{Payload: []byte(`{"statusCode":200,"body":"hi from ` + in.Function + `"}`)}
	})
	host, port, _ := net.SplitHostPort(w.Server.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	a.mu.Lock()
	id := fmt.Sprintf("c%d", len(a.workers)+1)
	a.workers[id] = w
	a.mu.Unlock()
	return &agentv1.EnsureContainerResponse{Worker: &agentv1.WorkerInfo{Id: id, Ip: host, Port: int32(p), Function: in.Function}}, nil
}

func (a *grpcAgent) DestroyContainer(_ context.Context, in *agentv1.DestroyContainerRequest) (*agentv1.DestroyContainerResponse, error) {
	a.mu.Lock()
	w := a.workers[in.Id]
	delete(a.workers, in.Id)
	a.mu.Unlock()
	if w != nil {
		go w.Close()
	}
	return &agentv1.DestroyContainerResponse{}, nil
}

func (a *grpcAgent) ListContainers(context.Context, *agentv1.ListContainersRequest) (*agentv1.ListContainersResponse, error) {
	return &agentv1.ListContainersResponse{}, nil
}

func (a *grpcAgent) Health(context.Context, *agentv1.HealthRequest) (*agentv1.HealthResponse, error) {
	return &agentv1.HealthResponse{Serving: true}, nil
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

func TestRunGatewayOverGRPC(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	agentv1.RegisterAgentServiceServer(srv, &grpcAgent{workers: map[string]*workertest.Worker{}})
	go srv.Serve(l)
	defer srv.Stop()

	fp, rp := filepath.Join(dir, "functions.yml"), filepath.Join(dir, "routing.yml")
	manifest.Save(fp, manifest.Functions{Functions: map[string]manifest.Function{"hello": {Image: "hello:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 1}}}})
	manifest.Save(rp, manifest.Routing{Routes: []manifest.Route{{Path: "/hello", Method: "get", Function: "hello"}}})
	port := freePort(t)
	env := map[string]string{
		"FUNCTIONS_CONFIG_PATH": fp, "ROUTING_CONFIG_PATH": rp, "ENABLE_SSL": "false",
		"GATEWAY_BIND_ADDR": "127.0.0.1", "GATEWAY_HTTP_PORT": port, "AUTH_DISABLED": "true",
		"AGENT_GRPC_ADDRESS": "unix://" + sock, "ASYNC_SPOOL_DIR": filepath.Join(dir, "async"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runGateway(ctx, &Globals{Stderr: &stderr, Stdout: io.Discard}, envMap(env)) }()
	url := "http://127.0.0.1:" + port + "/hello"
	var resp *http.Response
	for i := 0; i < 200; i++ {
		resp, err = http.Get(url)
		if err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("gateway not reachable: %v\n%s", err, stderr.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hi from hello" {
		t.Errorf("GET /hello through the gRPC agent: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestRunGatewayRefusesWeakSecret(t *testing.T) {
	err := runGateway(context.Background(), &Globals{Stderr: io.Discard, Stdout: io.Discard}, envMap(map[string]string{
		"FUNCTIONS_CONFIG_PATH": "/nonexistent/f.yml", "ROUTING_CONFIG_PATH": "/nonexistent/r.yml",
		"JWT_SECRET_KEY": "short", "X_API_KEY": "k", "AGENT_GRPC_ADDRESS": "unix:///nonexistent.sock",
	}))
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET_KEY") {
		t.Errorf("weak secret: %v", err)
	}
}
