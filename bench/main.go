// Command bench is esb's benchmark harness: it runs every scenario against its
// baseline in one run, repeats each measurement, and writes JSON, a Markdown
// report (docs/benchmarks.md) and SVG plots.
//
//	go run ./bench                     # everything, 5 repetitions
//	go run ./bench -smoke              # every scenario, as short as possible (CI)
//	go run ./bench -run 'warm|cold'    # a subset
//	go run ./bench -report-only bench/results/latest.json
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/edgeserverlessbox/esb/bench/harness"
)

type options struct {
	run        string
	repeat     int
	duration   time.Duration
	smoke      bool
	out        string
	report     string
	plots      string
	reportOnly string
	list       bool
}

func main() {
	var o options
	flag.StringVar(&o.run, "run", "", "only scenarios whose name matches this regular expression")
	flag.IntVar(&o.repeat, "repeat", 5, "repetitions of every measurement")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of one measured load run")
	flag.BoolVar(&o.smoke, "smoke", false, "run every scenario as briefly as possible and assert only that it runs")
	flag.StringVar(&o.out, "out", "bench/results/latest.json", "where to write the JSON results")
	flag.StringVar(&o.report, "report", "docs/benchmarks.md", "where to write the Markdown report (empty: none)")
	flag.StringVar(&o.plots, "plots", "docs/bench/plots", "where to write SVG plots")
	flag.StringVar(&o.reportOnly, "report-only", "", "regenerate the report from this JSON file without measuring")
	flag.BoolVar(&o.list, "list", false, "list the scenarios and exit")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.reportOnly != "" {
		r, err := harness.ReadJSON(o.reportOnly)
		if err != nil {
			return err
		}
		return writeReport(r, o)
	}
	scenarios := allScenarios()
	if o.list {
		for _, s := range scenarios {
			fmt.Printf("%-28s %s\n", s.Name, s.Description)
		}
		return nil
	}
	if o.run != "" {
		re, err := regexp.Compile(o.run)
		if err != nil {
			return fmt.Errorf("-run: %w", err)
		}
		var keep []harness.Scenario
		for _, s := range scenarios {
			if re.MatchString(s.Name) {
				keep = append(keep, s)
			}
		}
		scenarios = keep
	}
	if o.smoke {
		o.repeat, o.duration = 1, 300*time.Millisecond
		if o.report == "docs/benchmarks.md" {
			o.report = "" // a smoke run's figures are meaningless; keep the real report
		}
		if o.out == "bench/results/latest.json" {
			o.out = "bench/results/smoke.json"
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	work, err := os.MkdirTemp("", "esb-bench-")
	if err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	defer os.RemoveAll(work)
	env := &harness.Env{
		Repeat:   o.repeat,
		Duration: o.duration,
		Smoke:    o.smoke,
		WorkDir:  work,
		BinDir:   filepath.Join(work, "bin"),
		Log:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if err := buildBinaries(ctx, env.BinDir); err != nil {
		return err
	}
	r := &harness.Report{
		Started: time.Now(),
		Command: commandLine(),
		Machine: describeMachine(),
		Repeat:  o.repeat,
	}
	r.Outcomes = harness.RunAll(ctx, env, scenarios, os.Stderr)
	if err := r.WriteJSON(o.out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "results: %s\n", o.out)
	if err := writeReport(r, o); err != nil {
		return err
	}
	var failed []string
	for _, oc := range r.Outcomes {
		if oc.Failed != "" {
			failed = append(failed, oc.Scenario)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d scenario(s) failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

func writeReport(r *harness.Report, o options) error {
	if o.report == "" {
		return nil
	}
	f, err := os.Create(o.report)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := r.WriteMarkdown(f, o.report, o.plots); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(os.Stderr, "report: %s\n", o.report)
	return nil
}

func commandLine() string {
	args := []string{"go run ./bench"}
	args = append(args, os.Args[1:]...)
	return strings.Join(args, " ")
}

func describeMachine() harness.Machine {
	m := harness.Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: "unknown"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryGiB = int((kb + 512*1024) / (1024 * 1024))
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	return m
}
