package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/logs"
	"github.com/edgeserverlessbox/esb/internal/project"
)

type logsOptions struct {
	follow     bool
	tail       string
	since      string
	timestamps bool
	requestID  string
	traceID    string
	level      string
	json       bool
}

func newLogsCommand(g *Globals) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [SERVICE|FUNCTION...]",
		Short: "Show logs of functions and services",
		Long: `Show the project's logs: every line its functions printed (with START, END
and REPORT) and every line of its services (gateway, agent, dynamodb, s3),
oldest first. Name services or functions to see only theirs; "function"
selects every function.

The logs come from VictoriaLogs when esb up runs one (or VICTORIALOGS_URL
points at one), else from the local store in <output_dir>/state/logs/store;
the flags and the output are the same either way.`,
		Example: `  esb logs                          everything
  esb logs -f hello gateway         follow the hello function and the gateway
  esb logs --tail 50 --since 10m    the last 50 lines of the last 10 minutes
  esb logs --trace-id 1-5f1c2d3e-0123456789abcdef01234567
                                    every line of one trace, across functions
  esb logs --level error --json     errors, as JSON lines`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing new lines as they arrive")
	f.StringVarP(&o.tail, "tail", "n", "all", `number of lines to show from the end ("all" for every line)`)
	f.StringVar(&o.since, "since", "", "only lines newer than a duration (10m, 2h, 1d) or a time (2026-11-27T16:00:00Z)")
	f.BoolVar(&o.timestamps, "timestamps", false, "show each line's time")
	f.StringVar(&o.requestID, "request-id", "", "only lines of this request id")
	f.StringVar(&o.traceID, "trace-id", "", "only lines of this trace (X-Amzn-Trace-Id or its Root, 1-…-…)")
	f.StringVar(&o.level, "level", "", "only lines at this level or above: debug, info, warn, error")
	f.BoolVar(&o.json, "json", false, "print each line as a JSON object")
	return cmd
}

// logQuery turns the flags into a query.
func (o *logsOptions) query(names []string, now time.Time) (logs.Query, error) {
	q := logs.Query{Names: names, RequestID: o.requestID, TraceID: o.traceID, Level: o.level}
	if o.tail != "all" && o.tail != "" {
		n, err := strconv.Atoi(o.tail)
		if err != nil || n < 0 {
			return q, fmt.Errorf("--tail %q must be a number of lines or \"all\"", o.tail)
		}
		q.Tail = n
		if n == 0 {
			q.Tail = -1 // no earlier line: only new ones with --follow
		}
	}
	if o.since != "" {
		t, err := logs.ParseSince(o.since, now)
		if err != nil {
			return q, fmt.Errorf("--since %q: %v", o.since, err)
		}
		q.Since = t
	}
	if o.level != "" {
		switch o.level {
		case "trace", "debug", "info", "warn", "warning", "error", "critical", "fatal":
		default:
			return q, fmt.Errorf("--level %q is not one of debug, info, warn, error, critical", o.level)
		}
	}
	return q, nil
}

func runLogs(ctx context.Context, g *Globals, o *logsOptions, names []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	q, err := o.query(names, time.Now())
	if err != nil {
		return err
	}
	wd, err := workDir()
	if err != nil {
		return err
	}
	src := logs.Source{VictoriaLogsURL: os.Getenv(logs.EnvVictoriaLogsURL), LogDir: os.Getenv(logs.EnvLogDir)}
	if src.LogDir == "" {
		proj, err := project.Load(project.Options{Template: g.Template, Env: g.Env, Dir: wd})
		if err != nil {
			return err
		}
		// The state directory of `esb up` (docs/contracts.md).
		src.LogDir = filepath.Join(proj.OutputDir, "state", "logs")
		if _, err := os.Stat(src.LogDir); err != nil && src.VictoriaLogsURL == "" {
			return fmt.Errorf("%s has no logs yet (%s does not exist): start it with `esb up`", proj.Name, project.Rel(wd, src.LogDir))
		}
	}
	if q.Tail < 0 && !o.follow {
		return nil
	}
	if o.follow {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}

	out := bufio.NewWriterSize(g.Stdout, 64<<10)
	defer out.Flush()
	format := logs.Format{JSON: o.json, Timestamps: o.timestamps,
		Color: !o.json && isTerminalWriter(g.Stdout) && os.Getenv("NO_COLOR") == ""}
	r := &logs.Reader{Source: src, Warn: func(msg string) {
		out.Flush()
		fmt.Fprintln(g.Stderr, "warning:", msg)
	}}
	var buf []byte
	var last time.Time
	print := func(e *logs.Entry) {
		buf = format.AppendEntry(buf[:0], e)
		out.Write(buf)
		if e.Time.After(last) {
			last = e.Time
		}
	}
	if q.Tail >= 0 {
		entries, err := r.Read(ctx, q)
		if err != nil {
			return err
		}
		for i := range entries {
			print(&entries[i])
		}
	} else {
		r.SkipToEnd()
	}
	if !o.follow {
		return nil
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if last.IsZero() {
		last = time.Now()
	}
	return r.Follow(ctx, q, last, func(e *logs.Entry) {
		print(e)
		out.Flush()
	})
}
