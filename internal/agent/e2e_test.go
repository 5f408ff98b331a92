package agent_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/agent/agenttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestE2EAgentBinary runs the built `esb agent` in both modes and drives it
// over its unix socket: Info, EnsureContainer, an invoke, DestroyContainer,
// then SIGTERM.
func TestE2EAgentBinary(t *testing.T) {
	dockerHost, containerdAddr := integration(t)
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	bin := filepath.Join(t.TempDir(), "esb")
	build := exec.Command("go", "build", "-o", bin, "./cmd/esb")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build esb: %v\n%s", err, out)
	}
	archive := testImages(t)
	for _, c := range []struct {
		mode mode
		args []string
	}{
		{dockerMode(t, dockerHost), []string{"--mode", "docker", "--docker-host", dockerHost, "--docker-network", testDockerNetwork}},
		{containerdMode(t, containerdAddr), []string{"--mode", "containerd", "--containerd-address", containerdAddr,
			"--containerd-namespace", testNamespace, "--cni-network", "esb-agenttest", "--cni-subnet", testSubnet, "--cni-bridge", "esbtest0"}},
	} {
		t.Run(c.mode.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := c.mode.load(ctx, archive); err != nil {
				t.Fatal(err)
			}
			state := t.TempDir()
			socket := filepath.Join(state, "run", "agent.sock")
			logs := &syncBuffer{}
			cmd := exec.Command(bin, append([]string{"agent", "--state-dir", state, "--readiness-timeout", "20"}, c.args...)...)
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			deadline := time.Now().Add(20 * time.Second)
			for {
				if conn, err := net.Dial("unix", socket); err == nil {
					conn.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("esb agent did not listen on %s:\n%s", socket, logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			client := agentv1.NewAgentServiceClient(conn)
			info, err := client.Info(ctx, &agentv1.InfoRequest{})
			if err != nil || info.Mode != c.mode.name {
				t.Fatalf("Info: %v %v", info, err)
			}
			resp, err := client.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
				Function: "Cli", Project: "agente2e", Image: agenttest.WorkerImage, MemoryMb: 128,
				Env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "Cli"},
			})
			if err != nil {
				t.Fatalf("EnsureContainer: %v\n%s", err, logs.String())
			}
			url := fmt.Sprintf("http://%s/2015-03-31/functions/function/invocations", net.JoinHostPort(resp.Worker.Ip, fmt.Sprint(resp.Worker.Port)))
			r, err := http.Post(url, "application/json", strings.NewReader(`{}`))
			if err != nil || r.StatusCode != 200 {
				t.Fatalf("invoke: %v %v", r, err)
			}
			r.Body.Close()
			if _, err := client.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: resp.Worker.Id}); err != nil {
				t.Fatalf("DestroyContainer: %v", err)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("esb agent after SIGTERM: %v\n%s", err, logs.String())
			}
			if _, err := os.Stat(socket); !os.IsNotExist(err) {
				t.Error("socket left behind")
			}
			if !strings.Contains(logs.String(), "worker listening on :8080") || !strings.Contains(logs.String(), "function=Cli") {
				t.Errorf("worker output missing from the agent's log:\n%s", logs.String())
			}
		})
	}
}

// syncBuffer is a strings.Builder safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
