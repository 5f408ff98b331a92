package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/agent/agenttest"
)

// TestIntegrationReadyLatency measures EnsureContainer → ready (through
// gRPC, median of ESB_BENCH_N runs, default 20) in both modes next to a
// bare `docker run` / `ctr run` of the same image to its first output line,
// interleaved in the same run. Set ESB_BENCH=1 (and ESB_E2E=1) to run it;
// ESB_BENCH_MODES=containerd limits it to one mode.
func TestIntegrationReadyLatency(t *testing.T) {
	dockerHost, containerdAddr := integration(t)
	if os.Getenv("ESB_BENCH") != "1" {
		t.Skip("benchmark: set ESB_BENCH=1")
	}
	n := 20
	if v := os.Getenv("ESB_BENCH_N"); v != "" {
		fmt.Sscan(v, &n)
	}
	if testing.Verbose() {
		slog.SetLogLoggerLevel(slog.LevelDebug) // the runtimes' step times
		defer slog.SetLogLoggerLevel(slog.LevelInfo)
	}
	archive := testImages(t)
	var report strings.Builder
	report.WriteString("| mode | EnsureContainer → ready (median) | p90 | bare runtime → first output (median) | p90 | ratio |\n|---|---|---|---|---|---|\n")
	for _, m := range []struct {
		mode mode
		bare func(ctx context.Context, i int) []string
	}{
		{dockerMode(t, dockerHost), func(ctx context.Context, i int) []string {
			return []string{"docker", "-H", dockerHost, "run", "--rm", "--network", testDockerNetwork, "--read-only", "--memory", "128m", agenttest.OnceImage}
		}},
		{containerdMode(t, containerdAddr), func(ctx context.Context, i int) []string {
			return []string{"ctr", "--address", containerdAddr, "-n", testNamespace, "run", "--rm", "--memory-limit", fmt.Sprint(128 << 20),
				"docker.io/library/" + agenttest.OnceImage, fmt.Sprintf("esb-bench-bare-%d-%d", os.Getpid(), i)}
		}},
	} {
		if only := os.Getenv("ESB_BENCH_MODES"); only != "" && !strings.Contains(only, m.mode.name) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := m.mode.load(ctx, archive); err != nil {
			t.Fatal(err)
		}
		h := startAgent(t, m.mode, t.TempDir(), &recordingSink{})
		rows := []string{m.mode.name}
		if m.mode.name == "containerd" {
			// Workers share a runc shim; with another worker running, a start
			// does not pay for launching one (the usual case once a project runs).
			rows = append(rows, m.mode.name+", another worker running")
		}
		for _, row := range rows {
			var anchor string
			if strings.Contains(row, "another") {
				resp, err := h.client.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
					Function: "Anchor", Project: "agentbench", Image: agenttest.WorkerImage, MemoryMb: 128,
				})
				if err != nil {
					t.Fatal(err)
				}
				anchor = resp.Worker.Id
			}
			var ours, bare []time.Duration
			for i := 0; i < n+1; i++ { // the first round warms caches and is dropped
				start := time.Now()
				resp, err := h.client.EnsureContainer(ctx, &agentv1.EnsureContainerRequest{
					Function: "Bench", Project: "agentbench", Image: agenttest.WorkerImage, MemoryMb: 128,
				})
				d := time.Since(start)
				if err != nil {
					t.Fatalf("%s: EnsureContainer: %v", m.mode.name, err)
				}
				if _, err := h.client.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: resp.Worker.Id}); err != nil {
					t.Fatal(err)
				}
				b, err := firstLine(ctx, m.bare(ctx, i))
				if err != nil {
					t.Fatalf("%s: bare run: %v", m.mode.name, err)
				}
				if i > 0 {
					ours, bare = append(ours, d), append(bare, b)
				}
			}
			if anchor != "" {
				h.client.DestroyContainer(ctx, &agentv1.DestroyContainerRequest{Id: anchor})
			}
			om, op := quantiles(ours)
			bm, bp := quantiles(bare)
			fmt.Fprintf(&report, "| %s | %s | %s | %s | %s | %.2f |\n", row, ms(om), ms(op), ms(bm), ms(bp), float64(om)/float64(bm))
		}
		h.stop()
		cancel()
	}
	t.Logf("ready latency, %d runs each:\n%s", n, report.String())
	if out := os.Getenv("ESB_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// firstLine runs argv and returns the time until its first stdout line,
// then waits for it to finish.
func firstLine(ctx context.Context, argv []string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		cmd.Wait()
		return 0, fmt.Errorf("%v printed nothing: %s", argv, stderr.String())
	}
	d := time.Since(start)
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("%v: %v: %s", argv, err, stderr.String())
	}
	return d, nil
}

func quantiles(ds []time.Duration) (median, p90 time.Duration) {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)*9/10]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
