package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIntegrationContainer runs esb-rie as PID 1 of a real container, as
// esb's function images do: FROM scratch, read-only root, a tmpfs /tmp, a
// memory limit. It checks invokes, crash and timeout recovery, REPORT's
// memory from the cgroup, JSON output, and a clean `docker stop`.
func TestIntegrationContainer(t *testing.T) {
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("needs the private dockerd; run with ESB_E2E=1 (make test)")
	}
	host := os.Getenv("ESB_TEST_DOCKER_HOST")
	if host == "" {
		t.Fatal("ESB_TEST_DOCKER_HOST is not set: start the daemons with scripts/test-daemons.sh start")
	}
	docker := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", append([]string{"-H", host}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}

	ctx := t.TempDir()
	for src, dst := range map[string]string{rieBin: "esb-rie", gofnBin: "bootstrap"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctx, dst), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dockerfile := "FROM scratch\nCOPY esb-rie /usr/local/bin/esb-rie\nCOPY bootstrap /var/task/bootstrap\nENTRYPOINT [\"/usr/local/bin/esb-rie\"]\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("esb-rie-test:%08x", rand.Uint32())
	docker("build", "-q", "-t", tag, ctx)
	t.Cleanup(func() { exec.Command("docker", "-H", host, "rmi", "-f", tag).Run() })

	id := docker("run", "-d", "--read-only", "--tmpfs", "/tmp", "--memory", "128m",
		"-e", "ESB_LOG_FORMAT=json", "-e", "AWS_LAMBDA_FUNCTION_NAME=ctr", "-e", "AWS_LAMBDA_FUNCTION_TIMEOUT=1",
		"-e", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", tag)
	t.Cleanup(func() { exec.Command("docker", "-H", host, "rm", "-f", id).Run() })
	ip := docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", id)
	if ip == "" {
		t.Fatal("the container has no IP address on the default bridge")
	}
	r := &rieProc{t: t, url: "http://" + ip + ":8080", stdout: &syncBuffer{}, stderr: &syncBuffer{}, client: &http.Client{Timeout: 20 * time.Second}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := r.client.Get(r.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("esb-rie in the container never answered: %v\n%s", err, docker("logs", id))
		}
		time.Sleep(50 * time.Millisecond)
	}

	p := r.invokeString(`{"in":"container"}`, "X-Amzn-RequestId", "ctr-1")
	expectOK(t, p, `{"in":"container"}`)
	expectError(t, r.invokeString(`{"action":"exit"}`), "exit", "exit status 3")
	expectOK(t, r.invokeString(`"after crash"`), `"after crash"`)
	expectError(t, r.invokeString(`{"action":"sleep","ms":3000}`), "timeout", "Task timed out after 1.00 seconds")
	expectOK(t, r.invokeString(`"after timeout"`), `"after timeout"`)

	start := time.Now()
	docker("stop", "-t", "10", id)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("docker stop took %v: esb-rie as PID 1 did not handle SIGTERM", took)
	}
	if code := docker("inspect", "-f", "{{.State.ExitCode}}", id); code != "0" {
		t.Errorf("exit code %s after docker stop", code)
	}

	var report map[string]any
	for _, line := range strings.Split(docker("logs", id), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("container output is not JSON lines: %q", line)
		}
		if rec["type"] == "platform.report" && rec["request_id"] == "ctr-1" {
			report = rec
		}
	}
	if report == nil {
		t.Fatal("no REPORT record for ctr-1")
	}
	// From the container's memory cgroup: more than the runtime alone, at
	// most the limit.
	if used, _ := report["max_memory_used_mb"].(float64); used < 1 || used > 128 {
		t.Errorf("max memory used %v MB", report["max_memory_used_mb"])
	}
	t.Logf("REPORT record: %v", report)
	if report["function"] != "ctr" || report["init_duration_ms"] == nil {
		t.Errorf("report %v", report)
	}
}
