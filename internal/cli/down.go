package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/cni"
	ctrd "github.com/edgeserverlessbox/esb/internal/agent/containerd"
	"github.com/edgeserverlessbox/esb/internal/agent/docker"
	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

func newDownCommand(g *Globals) *cobra.Command {
	var volumes, yes bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the services and remove function containers",
		Long: `Stop every service of the project (the gateway first: it finishes in-flight
requests and removes its workers), then remove any function container of the
project that is left. Tables and objects stay unless --volumes, which deletes
<output_dir>/state/data/ after a confirmation (--yes skips it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDown(cmd.Context(), g, volumes, yes)
		},
	}
	cmd.Flags().BoolVar(&volumes, "volumes", false, "also delete the stored data (tables, objects, logs store)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask before --volumes deletes data")
	return cmd
}

func runDown(ctx context.Context, g *Globals, volumes, yes bool) error {
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
	if _, err := os.Stat(l.Root); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(g.Stderr, "esb: %s was never started (no %s)\n", proj.Name, project.Rel(wd, l.Root))
		return nil
	}
	settings, err := readUpSettings(proj, os.Getenv)
	if err != nil {
		return err
	}
	if volumes {
		if err := confirmDataLoss(g, l, yes, "esb down --volumes"); err != nil {
			return err
		}
	}
	lock, err := supervisor.WaitLock(ctx, l.UpLock(), 2*time.Minute, func(pid int) {
		fmt.Fprintf(g.Stderr, "esb: another esb command (pid %d) is starting or stopping this project; waiting for it…\n", pid)
	})
	if err != nil {
		return err
	}
	defer lock.Unlock()
	return stopProject(ctx, g, proj, l, settings, volumes)
}

// stopProject stops the supervisor and its services, removes the project's
// leftover function containers and, with volumes, its data.
func stopProject(ctx context.Context, g *Globals, proj *project.Project, l supervisor.Layout, s upSettings, volumes bool) error {
	start := time.Now()
	c := supervisor.NewClient(l)
	switch err := c.Stop(ctx, 90*time.Second); {
	case err == nil:
		fmt.Fprintf(g.Stderr, "esb: stopped the services of %s\n", proj.Name)
	case errors.Is(err, supervisor.ErrNotRunning):
	default:
		return err
	}
	if pids := supervisor.Orphans(l); len(pids) > 0 {
		fmt.Fprintf(g.Stderr, "esb: stopping %d esb process(es) left from a supervisor that is gone\n", len(pids))
		supervisor.StopOrphans(pids, 50*time.Second)
	}
	n, err := removeProjectContainers(ctx, s.mode, l, proj.Name)
	if err != nil {
		fmt.Fprintf(g.Stderr, "warning: could not check for leftover function containers: %v\n", err)
	} else if n > 0 {
		fmt.Fprintf(g.Stderr, "esb: removed %d leftover function container(s)\n", n)
	}
	if volumes {
		if err := os.RemoveAll(l.Data()); err != nil {
			return fmt.Errorf("delete %s: %w", l.Data(), err)
		}
		fmt.Fprintf(g.Stderr, "esb: deleted the data of %s (%s)\n", proj.Name, l.Data())
	}
	for _, f := range []string{l.StateFile(), l.Socket()} {
		_ = os.Remove(f)
	}
	fmt.Fprintf(g.Stderr, "esb: %s is down (%s)\n", proj.Name, time.Since(start).Round(time.Millisecond))
	return nil
}

// openRuntime connects to the mode's container runtime the way the agent
// does (same environment variables), for down and prune.
func openRuntime(ctx context.Context, mode string, l supervisor.Layout) (agent.Runtime, error) {
	logger := slog.New(slog.DiscardHandler)
	switch mode {
	case project.ModeContainerd:
		return ctrd.New(ctx, ctrd.Config{
			Address:   envOr("CONTAINERD_ADDRESS", ctrd.DefaultAddress),
			Namespace: envOr("CONTAINERD_NAMESPACE", ctrd.DefaultNamespace),
			StateDir:  filepath.Join(l.Root, "agent"),
			CNI: cni.Config{Name: envOr("CNI_NETWORK", cni.DefaultName), Subnet: envOr("CNI_SUBNET", cni.DefaultSubnet),
				PluginDir: envOr("CNI_BIN_DIR", cni.DefaultPluginDir), Bridge: envOr("CNI_BRIDGE", cni.DefaultBridge),
				NoMasquerade: true},
		}, logger)
	default:
		return docker.New(ctx, docker.Config{Host: os.Getenv("DOCKER_HOST"), Network: envOr("ESB_DOCKER_NETWORK", "esb")}, logger)
	}
}

// removeProjectContainers removes every esb container of the project.
func removeProjectContainers(ctx context.Context, mode string, l supervisor.Layout, projectName string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rt, err := openRuntime(ctx, mode, l)
	if err != nil {
		return 0, err
	}
	defer rt.Close()
	list, err := rt.List(ctx, agent.Filter{Project: projectName})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if err := rt.Remove(ctx, c.ID); err != nil {
			return n, fmt.Errorf("remove container %s: %w", c.ID, err)
		}
		n++
	}
	return n, nil
}
