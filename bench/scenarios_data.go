package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/edgeserverlessbox/esb/bench/harness"
)

// The data-service benchmarks are programs of their own (bench/dynamodb,
// bench/s3) that start the servers they compare; the harness runs them with its
// repetition and duration settings and folds their JSON into the report.

func runSubBench(ctx context.Context, env *harness.Env, pkg, out string, args ...string) error {
	cmdArgs := append([]string{"run", pkg}, args...)
	cmd := exec.CommandContext(ctx, "go", cmdArgs...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	logPath := out + ".log"
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", logPath, err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		tail, _ := os.ReadFile(logPath)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("go run %s: %v\n%s", pkg, err, tail)
	}
	return nil
}

// dynamoResult mirrors the rows bench/dynamodb writes.
type dynamoResult struct {
	Server    string  `json:"server"`
	Workload  string  `json:"workload"`
	Clients   int     `json:"clients"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

func runDynamoDB(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	out := filepath.Join(env.WorkDir, "dynamodb.json")
	args := []string{"-out", out, "-runs", strconv.Itoa(env.Repeat), "-duration", env.Duration.String()}
	if env.Smoke {
		args = append(args, "-keys", "500")
	}
	if err := runSubBench(ctx, env, "./bench/dynamodb", out, args...); err != nil {
		return nil, err
	}
	var rep struct {
		All []dynamoResult `json:"all_runs"`
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("read dynamodb results: %w", err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("parse dynamodb results: %w", err)
	}
	type key struct {
		workload string
		clients  int
	}
	points := map[key]map[string][]harness.Sample{}
	var order []key
	for _, r := range rep.All {
		k := key{r.Workload, r.Clients}
		if points[k] == nil {
			points[k] = map[string][]harness.Sample{}
			order = append(order, k)
		}
		points[k][r.Server] = append(points[k][r.Server], harness.Sample{
			P50:        time.Duration(r.P50Ms * float64(time.Millisecond)),
			P99:        time.Duration(r.P99Ms * float64(time.Millisecond)),
			Throughput: r.OpsPerSec,
			Requests:   uint64(r.Ops),
			Errors:     uint64(r.Errors),
		})
	}
	o := &harness.Outcome{Notes: "All servers keep their data on disk. esb (the default, --sync always) answers a write once it is synced to disk; dynalite (LevelDB) does not sync, and neither does \"esb --sync off\", which compares like with like. " +
		"One load-generator thread drives all connections with epoll, so the servers get the machine. Details and CPU per operation: docs/bench/dynamodb.md."}
	for _, k := range order {
		pt := harness.Point{Load: fmt.Sprintf("%s, %d client(s)", k.workload, k.clients)}
		servers := make([]string, 0, len(points[k]))
		for s := range points[k] {
			servers = append(servers, s)
		}
		sort.Strings(servers)
		for _, s := range servers {
			pt.Variants = append(pt.Variants, harness.Variant{Name: s, Baseline: s == "dynalite", Samples: points[k][s]})
		}
		o.Points = append(o.Points, pt)
	}
	if len(o.Points) == 0 {
		return nil, fmt.Errorf("bench/dynamodb reported no results")
	}
	return o, nil
}

// s3Result mirrors the rows bench/s3 writes.
type s3Result struct {
	Name      string  `json:"name"`
	Target    string  `json:"target"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	OpsPerSec float64 `json:"ops_per_sec"`
	MiBPerSec float64 `json:"mib_per_sec"`
}

func runS3(ctx context.Context, env *harness.Env) (*harness.Outcome, error) {
	esb := filepath.Join(env.BinDir, "esb")
	points := map[string]map[string][]harness.Sample{}
	var order []string
	var idle []harness.Sample
	for i := range env.Repeat {
		out := filepath.Join(env.WorkDir, fmt.Sprintf("s3-%d.json", i))
		args := []string{"-esb", esb, "-json", out}
		if env.Smoke {
			args = append(args, "-small-ops", "100", "-large-size", strconv.Itoa(4<<20), "-large-count", "2")
		} else {
			// 20 large objects per row: with a handful, the floor's writes
			// never meet the kernel's dirty-page limits and it measures a
			// memory copy, not the disk (docs/bench/s3.md).
			args = append(args, "-small-ops", "1000", "-large-count", "20")
		}
		if err := runSubBench(ctx, env, "./bench/s3", out, args...); err != nil {
			return nil, err
		}
		var rep struct {
			IdleRSSMiB float64    `json:"idle_rss_mib"`
			Results    []s3Result `json:"results"`
		}
		data, err := os.ReadFile(out)
		if err != nil {
			return nil, fmt.Errorf("read s3 results: %w", err)
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			return nil, fmt.Errorf("parse s3 results: %w", err)
		}
		idle = append(idle, harness.Sample{Value: rep.IdleRSSMiB})
		for _, r := range rep.Results {
			if points[r.Name] == nil {
				points[r.Name] = map[string][]harness.Sample{}
				order = append(order, r.Name)
			}
			tput := r.OpsPerSec
			if r.MiBPerSec > 0 && r.OpsPerSec < 100 {
				tput = r.MiBPerSec // large objects: compare bandwidth
			}
			points[r.Name][r.Target] = append(points[r.Name][r.Target], harness.Sample{
				P50:        time.Duration(r.P50Ms * float64(time.Millisecond)),
				P99:        time.Duration(r.P99Ms * float64(time.Millisecond)),
				Throughput: tput,
			})
		}
	}
	o := &harness.Outcome{Notes: "The floor is a plain local-disk write/read of the same bytes on the same filesystem. For 64 MiB objects the req/s column is MiB/s. " +
		fmt.Sprintf("Idle RSS of `esb s3` (median of runs): %.0f MiB. Details: docs/bench/s3.md.", harness.Summarise(idle).Value)}
	for _, name := range order {
		pt := harness.Point{Load: name}
		for _, target := range []string{"disk", "esb s3"} {
			if s, ok := points[name][target]; ok {
				pt.Variants = append(pt.Variants, harness.Variant{Name: target, Baseline: target == "disk", Samples: s})
			}
		}
		o.Points = append(o.Points, pt)
	}
	if len(o.Points) == 0 {
		return nil, fmt.Errorf("bench/s3 reported no results")
	}
	return o, nil
}
