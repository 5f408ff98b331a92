package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

type upOptions struct {
	build      bool
	wait       bool
	reset      bool
	yes        bool
	foreground bool
	supervise  bool
	timeout    time.Duration
}

func newUpCommand(g *Globals) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the services and provision tables and buckets",
		Long: `Start the project's control plane on this machine — the agent, the gateway,
the DynamoDB and S3 services (and VictoriaLogs when installed) — supervised, with
their pids, sockets, logs and data under <output_dir>/state/, then provision the
template's tables and buckets.

esb up brings the function images up to date first (an incremental build: a
no-op when nothing changed). It runs detached by default; --foreground keeps
the supervisor in the terminal (systemd units, containers). On a running
project esb up applies the new build (routes, functions, images) without
stopping anything. --reset deletes every table and object first (asks unless
--yes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.build, "build", false, "build the images even when nothing seems to have changed (no layer cache)")
	f.BoolVar(&o.wait, "wait", false, "return only when every service is healthy and min_capacity workers are warm")
	f.BoolVar(&o.reset, "reset", false, "delete all data (tables, objects) and rebuild: esb down --volumes, then esb up --build")
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask before --reset deletes data")
	f.BoolVar(&o.foreground, "foreground", false, "run the supervisor in this process until SIGINT/SIGTERM (for systemd and containers)")
	f.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long --wait waits")
	f.BoolVar(&o.supervise, "supervise", false, "run only the supervisor (what detached esb up starts)")
	_ = f.MarkHidden("supervise")
	return cmd
}

// layoutOf is the project's state directory.
func layoutOf(proj *project.Project) supervisor.Layout {
	return supervisor.Layout{Root: filepath.Join(proj.OutputDir, "state")}
}

func runUp(ctx context.Context, g *Globals, o *upOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	wd, err := workDir()
	if err != nil {
		return err
	}
	proj, err := project.Load(project.Options{Template: g.Template, Env: g.Env, Dir: wd})
	if err != nil {
		return err
	}
	if err := checkMode(proj.Mode); err != nil {
		return err
	}
	l := layoutOf(proj)
	settings, err := readUpSettings(proj, os.Getenv)
	if err != nil {
		return err
	}
	if o.supervise {
		return runSupervise(ctx, g, proj, l, settings)
	}
	if err := l.Ensure(); err != nil {
		return err
	}
	lock, err := supervisor.WaitLock(ctx, l.UpLock(), 2*time.Minute, func(pid int) {
		fmt.Fprintf(g.Stderr, "esb: another esb command (pid %d) is starting or stopping this project; waiting for it…\n", pid)
	})
	if err != nil {
		return err
	}
	defer lock.Unlock()

	if o.reset {
		if err := confirmDataLoss(g, l, o.yes, "esb up --reset"); err != nil {
			return err
		}
		if err := stopProject(ctx, g, proj, l, settings, true); err != nil {
			return err
		}
		o.build = true
	}
	if err := checkEngine(ctx, settings.mode, os.Getenv); err != nil {
		return err
	}

	// Bring the build up to date: routes and functions always, images incrementally.
	out, err := generateBuild(proj, wd)
	for _, w := range out.warnings() {
		fmt.Fprintln(g.Stderr, "warning:", w)
	}
	if err != nil {
		return err
	}
	before := imageIDs(ctx, settings.mode, out.plans)
	if err := buildImages(ctx, quietGlobals(g), proj, out.plans, buildOptions{noCache: o.build}); err != nil {
		return err
	}
	changed := changedImages(before, imageIDs(ctx, settings.mode, out.plans))

	sec, err := supervisor.EnsureSecrets(l, os.Getenv)
	if err != nil {
		return err
	}
	gu, err := lookupGatewayUser(settings, true)
	if err != nil {
		return err
	}
	plan := planServices(proj, l, settings, sec, os.Environ(), gu)
	client := supervisor.NewClient(l)
	st, err := client.Status(ctx)
	running := err == nil
	if running && st.Info[infoPlan] != plan.hash {
		fmt.Fprintln(g.Stderr, "esb: the services' settings changed (mode, ports, endpoints or secrets); restarting them")
		if err := client.Stop(ctx, time.Minute); err != nil {
			return err
		}
		running = false
	}

	var supDone chan error
	var sup *supervisor.Supervisor
	switch {
	case running && len(changed) > 0:
		// Same image names, new content: the gateway's pools would keep the
		// old workers, so the gateway restarts (it finishes in-flight requests
		// and removes its workers first); the next requests get new workers.
		fmt.Fprintf(g.Stderr, "esb: new images for %s; restarting the gateway (in-flight requests finish first)\n", joinNames(changed))
		if err := client.Restart(ctx, "gateway"); err != nil {
			return err
		}
	case running:
		if err := client.Reload(ctx); err != nil {
			return err
		}
		fmt.Fprintf(g.Stderr, "esb: updated the running project (supervisor pid %d)\n", st.PID)
	default:
		if pids := supervisor.Orphans(l); len(pids) > 0 {
			fmt.Fprintf(g.Stderr, "esb: stopping %d esb process(es) left from a supervisor that is gone\n", len(pids))
			supervisor.StopOrphans(pids, 50*time.Second)
		}
		if err := checkPorts(settings); err != nil {
			return err
		}
		if o.foreground {
			plan.cfg.Logger = daemonLogger(g.Stderr, g.Verbose)
			sup, err = supervisor.New(plan.cfg)
			if err != nil {
				return err
			}
			supDone = make(chan error, 1)
			go func() { supDone <- sup.Run(ctx, nil) }()
		} else if err := spawnSupervisor(g, proj, l); err != nil {
			return err
		}
		if err := waitSupervisor(ctx, client, supDone, l); err != nil {
			return err
		}
	}

	fail := func(err error) error {
		if sup != nil {
			sup.Stop()
			<-supDone
		}
		return err
	}
	if err := provisionProject(ctx, g, proj, l, plan, sec, client); err != nil {
		return fail(err)
	}
	if o.wait {
		if err := waitReady(ctx, g, proj, client, plan, o.timeout); err != nil {
			return fail(err)
		}
	}
	printUpSummary(g, proj, l, plan, wd, time.Since(start), o.wait)
	if sup == nil {
		return nil
	}
	lock.Unlock()
	return <-supDone
}

// quietGlobals keeps the build's summary table off the output of esb up;
// its progress and errors still show.
func quietGlobals(g *Globals) *Globals {
	q := *g
	q.Stdout = io.Discard
	return &q
}

// runSupervise is the detached supervisor that esb up starts.
func runSupervise(ctx context.Context, g *Globals, proj *project.Project, l supervisor.Layout, settings upSettings) error {
	sec, err := supervisor.LoadSecrets(l, os.Getenv)
	if err != nil {
		return err
	}
	gu, err := lookupGatewayUser(settings, false)
	if err != nil {
		return err
	}
	plan := planServices(proj, l, settings, sec, os.Environ(), gu)
	plan.cfg.Logger = daemonLogger(g.Stderr, g.Verbose)
	sup, err := supervisor.New(plan.cfg)
	if err != nil {
		return err
	}
	return sup.Run(ctx, func() { releaseStartupPages(ctx, plan.cfg.Logger) })
}

func daemonLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("component", "supervisor")
}

// spawnSupervisor starts `esb up --supervise` in its own session, its output
// in state/logs/supervisor.out.
func spawnSupervisor(g *Globals, proj *project.Project, l supervisor.Layout) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the esb executable: %w", err)
	}
	out, err := os.OpenFile(l.OutputFile("supervisor"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open %s: %w", l.OutputFile("supervisor"), err)
	}
	defer out.Close()
	args := []string{"up", "--supervise", "--template", proj.TemplatePath, "--env", proj.Env}
	if g.Verbose {
		args = append(args, "-v")
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = proj.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the supervisor: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Release()
}

// waitSupervisor waits until the supervisor answers on its socket. done is
// the in-process supervisor's result (foreground), nil for a detached one.
func waitSupervisor(ctx context.Context, c *supervisor.Client, done chan error, l supervisor.Layout) error {
	start := time.Now()
	for {
		if _, err := c.Status(ctx); err == nil {
			return nil
		}
		if done != nil {
			select {
			case err := <-done:
				if err == nil {
					err = errors.New("stopped")
				}
				return fmt.Errorf("the supervisor stopped at once: %w", err)
			default:
			}
		} else if time.Since(start) > 3*time.Second {
			if held, _ := supervisor.Held(l.SupervisorLock()); !held {
				return fmt.Errorf("the supervisor stopped at once; its last lines (%s):\n%s", l.OutputFile("supervisor"), tailFile(l.OutputFile("supervisor"), 15))
			}
		}
		if time.Since(start) > 20*time.Second {
			return fmt.Errorf("the supervisor did not answer within 20s; see %s", l.OutputFile("supervisor"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// checkMode refuses modes this build cannot run, saying what they need.
func checkMode(mode string) error {
	switch mode {
	case "", project.ModeDocker, project.ModeContainerd:
		return nil
	case project.ModeFirecracker:
		kvm := "this machine has /dev/kvm"
		if _, err := os.Stat("/dev/kvm"); err != nil {
			kvm = "this machine has no /dev/kvm (enable virtualisation, or use a bare-metal host)"
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("mode firecracker needs KVM (%s) and compute nodes running firecracker-containerd (esb node add / provision / up), which this build of esb does not drive yet; run with ESB_MODE=containerd or docker, or `esb env add NAME --mode containerd`", kvm)}
	}
	return fmt.Errorf("mode %q is not one of docker, containerd, firecracker", mode)
}
