package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

func newStatusCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show services and function workers",
		Long: `Show the project's services (pid, address, health, restarts, last exit) and
its functions (workers warm and busy, cold starts, errors, circuit breaker).
Exit code 0 when everything is healthy, 1 when something is not, 3 when the
project is not running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), g)
		},
	}
	return cmd
}

func runStatus(ctx context.Context, g *Globals) error {
	if ctx == nil {
		ctx = context.Background()
	}
	wd, err := workDir()
	if err != nil {
		return err
	}
	proj, err := project.Load(project.Options{Template: g.Template, Env: g.Env, Dir: wd})
	if err != nil {
		return err
	}
	l := layoutOf(proj)
	st, err := supervisor.NewClient(l).Status(ctx)
	if errors.Is(err, supervisor.ErrNotRunning) {
		msg := fmt.Sprintf("%s is not running (start it with `esb up`)", proj.Name)
		if pids := supervisor.Orphans(l); len(pids) > 0 {
			msg += fmt.Sprintf("; %d esb process(es) of it run without a supervisor (pids %v): `esb up` or `esb down` takes care of them", len(pids), pids)
		}
		return &ExitError{Code: 3, Err: errors.New(msg)}
	}
	if err != nil {
		return err
	}
	healthy := printServices(g.Stdout, proj, st)
	if base := st.Info[infoGwHTTP]; base != "" {
		fmt.Fprintln(g.Stdout)
		if err := printFunctions(ctx, g.Stdout, base); err != nil {
			fmt.Fprintf(g.Stdout, "functions: %v\n", err)
			healthy = false
		}
	}
	if !healthy {
		return &ExitError{Code: 1, Err: errors.New("not every service is healthy")}
	}
	return nil
}

func printServices(w io.Writer, proj *project.Project, st supervisor.Status) bool {
	fmt.Fprintf(w, "Project %s (mode %s), supervisor pid %d, up %s\n\n", proj.Name, st.Info[infoMode], st.PID, time.Since(st.StartedAt).Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tPID\tADDRESS\tHEALTH\tRESTARTS\tLAST EXIT")
	all := true
	for _, s := range st.Services {
		health := "healthy"
		if !s.Healthy {
			all = false
			health = s.Health
			if health == "" {
				health = "unhealthy"
			}
			if len(health) > 60 {
				health = health[:57] + "..."
			}
		}
		state := s.State
		if s.State == supervisor.StateBackoff && !s.NextStart.IsZero() {
			state = fmt.Sprintf("restarting in %s", time.Until(s.NextStart).Round(100*time.Millisecond))
		}
		pid := "-"
		if s.PID != 0 {
			pid = strconv.Itoa(s.PID)
		}
		last := "-"
		if s.LastExit != "" {
			last = fmt.Sprintf("%s, %s ago", s.LastExit, time.Since(s.LastExitAt).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Name, state, pid, s.Addr, health, s.Restarts, last)
	}
	tw.Flush()
	return all
}

// printFunctions shows the gateway's pools with the counters of /metrics.
func printFunctions(ctx context.Context, w io.Writer, base string) error {
	h, err := fetchGatewayHealth(ctx, base)
	if err != nil {
		return err
	}
	m, _ := fetchMetrics(ctx, base)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tWARM\tBUSY\tSTARTING\tWAITING\tMIN\tMAX\tCOLD STARTS\tINVOCATIONS\tERRORS\tBREAKER")
	for _, p := range h.Pools {
		errs := "0"
		if e := m.errors[p.Function]; len(e) > 0 {
			var parts []string
			total := 0
			for k, n := range e {
				total += n
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
			}
			sort.Strings(parts)
			errs = fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", p.Function, p.Idle+p.Paused, p.Busy, p.Starting, p.Waiting,
			p.Min, p.Max, m.cold[p.Function], m.invocations[p.Function], errs, p.Breaker)
	}
	if len(h.Pools) == 0 {
		fmt.Fprintln(tw, "(no functions)")
	}
	tw.Flush()
	first := true
	for _, p := range h.Pools {
		e := p.LastError
		if e == nil {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nLast errors:")
			first = false
		}
		msg := strings.Join(strings.Fields(e.Message), " ")
		if len(msg) > 120 {
			msg = msg[:117] + "..."
		}
		fmt.Fprintf(w, "  %s: %s, %s ago (request %s): %s\n", p.Function, e.Kind, time.Since(e.At).Round(time.Second), e.RequestID, msg)
	}
	if h.Agent.Status != "ok" {
		fmt.Fprintf(w, "gateway → agent: %s %s\n", h.Agent.Status, h.Agent.Message)
		return errors.New("the gateway cannot reach the agent")
	}
	return nil
}

type gatewayMetrics struct {
	cold, invocations map[string]int
	errors            map[string]map[string]int
}

// fetchMetrics reads the per-function counters of the gateway's /metrics.
func fetchMetrics(ctx context.Context, base string) (gatewayMetrics, error) {
	m := gatewayMetrics{cold: map[string]int{}, invocations: map[string]int{}, errors: map[string]map[string]int{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := localHTTP.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, labels, value, ok := parseMetric(line)
		if !ok {
			continue
		}
		fn := labels["function"]
		switch name {
		case "esb_function_cold_starts_total":
			m.cold[fn] += value
		case "esb_function_invocations_total":
			m.invocations[fn] += value
		case "esb_function_errors_total":
			if value > 0 {
				if m.errors[fn] == nil {
					m.errors[fn] = map[string]int{}
				}
				m.errors[fn][labels["kind"]] += value
			}
		}
	}
	return m, sc.Err()
}

// parseMetric splits a Prometheus text line `name{a="b",c="d"} 12`.
func parseMetric(line string) (string, map[string]string, int, bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	name, rest, ok := strings.Cut(line, "{")
	if !ok {
		return "", nil, 0, false
	}
	lbl, val, ok := strings.Cut(rest, "} ")
	if !ok {
		return "", nil, 0, false
	}
	labels := map[string]string{}
	for _, kv := range strings.Split(lbl, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			labels[k] = strings.Trim(v, `"`)
		}
	}
	f, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
	if err != nil {
		return "", nil, 0, false
	}
	return name, labels, int(f), true
}
