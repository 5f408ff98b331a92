package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/agenttest"
	"github.com/edgeserverlessbox/esb/internal/agent/docker"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// TestIntegrationGatewayDocker runs the gateway against the real agent (in
// process, served over its gRPC unix socket) driving the private Docker
// Engine, with the agent tests' esb-rie stand-in image as the function.
// The full end-to-end tests with esb-rie and real runtimes live with the
// e2e suite; this one checks the gateway ↔ agent ↔ container path.
func TestIntegrationGatewayDocker(t *testing.T) {
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("integration test: set ESB_E2E=1 and start scripts/test-daemons.sh")
	}
	host := os.Getenv("ESB_TEST_DOCKER_HOST")
	if host == "" {
		t.Fatal(`ESB_TEST_DOCKER_HOST must be set: eval "$(scripts/test-daemons.sh start)"`)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	dir := t.TempDir()
	bin, err := agenttest.BuildWorker(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := agenttest.ImageTar(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := agenttest.LoadDocker(ctx, host, archive); err != nil {
		t.Fatal(err)
	}
	rt, err := docker.New(ctx, docker.Config{Host: host, Network: "esb-gwtest"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	svc := agent.New(agent.DefaultConfig(), rt, nil, logger)
	sock := filepath.Join(dir, "agent.sock")
	actx, acancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- agent.Serve(actx, svc, agent.ListenConfig{Socket: sock}, logger) }()
	defer func() { acancel(); <-served }()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ag := agentv1.NewAgentServiceClient(conn)

	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"hello": {Image: agenttest.WorkerImage, Timeout: 10, MemorySize: 128, Scaling: manifest.Scaling{MaxCapacity: 2}},
	}}
	rt2 := manifest.Routing{API: "http", Routes: []manifest.Route{{Path: "/hello", Method: "any", Function: "hello"}}}
	fp, rp := writeManifests(t, dir, fns, rt2)
	project := "gwtest-" + time.Now().Format("150405.000")
	project = strings.ReplaceAll(project, ".", "")
	g, err := New(Config{
		FunctionsFile: fp, RoutingFile: rp, HTTPAddr: "127.0.0.1:0", Project: project, AuthDisabled: true,
		AcquireTimeout: 60 * time.Second, IdleTimeout: time.Second, HeartbeatInterval: 500 * time.Millisecond,
		WatchInterval: -1, Logger: logger,
	}, ag)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	base := "http://" + g.Addr("http").String()
	count := func() int {
		resp, err := ag.ListContainers(ctx, &agentv1.ListContainersRequest{Project: project})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Containers)
	}

	// A route (HTTP API: the worker's plain JSON is returned by inference).
	resp, err := http.Get(base + "/hello?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"function":"hello"`) || !strings.Contains(string(body), `"routeKey":"ANY /hello"`) {
		t.Fatalf("GET /hello through a real container: %d %s", resp.StatusCode, body)
	}
	// The Invoke API with the AWS SDK.
	out, err := lambdaClient(base, "x", "y").Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hello"), Payload: []byte(`{"a":1}`)})
	if err != nil || !strings.Contains(string(out.Payload), `"event":{"a":1}`) {
		t.Fatalf("Invoke: %v %s", err, out.Payload)
	}
	// Many parallel requests: never more than max_capacity containers.
	var wg sync.WaitGroup
	maxSeen := 0
	var mu sync.Mutex
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				n := count()
				mu.Lock()
				maxSeen = max(maxSeen, n)
				mu.Unlock()
			}
		}
	}()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := http.Get(base + "/hello"); err == nil {
				r.Body.Close()
				if r.StatusCode != 200 {
					t.Errorf("parallel request: %d", r.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if maxSeen > 2 {
		t.Errorf("%d containers at once, max_capacity is 2", maxSeen)
	}
	// Scale to zero after the idle timeout.
	deadline := time.Now().Add(30 * time.Second)
	for count() > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := count(); n != 0 {
		t.Errorf("%d containers left after the idle timeout", n)
	}
	// Shutdown removes every worker.
	if r, err := http.Get(base + "/hello"); err == nil {
		r.Body.Close()
	}
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d containers left after shutdown", n)
	}
}
