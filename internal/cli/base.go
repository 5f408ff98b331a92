package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/image"
	"github.com/edgeserverlessbox/esb/internal/project"
)

func newBaseCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "base",
		Short: "Build offline base images for python and nodejs runtimes from Debian packages",
		Long: `Offline base images for the python3.x and nodejs runtimes, assembled from this
host's installed Debian packages: no registry and no network needed.

  esb base build python3.12     # /usr/bin/python3 with python3-boto3
  esb base build nodejs20.x     # /usr/bin/node

The image is the host's interpreter, whatever its version: on Debian 12 the
"python3.12" base runs Python 3.11. It is cached (rebuilt only when the
packages change), loaded into Docker or containerd as the mode says, and
recorded in generator.yml's runtimes: map, so esb build uses it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var noCache bool
	build := &cobra.Command{
		Use:       "build RUNTIME...",
		Short:     "Assemble the base image of a runtime from this host's Debian packages",
		Args:      cobra.MinimumNArgs(1),
		ValidArgs: image.OfflineRuntimes(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBaseBuild(cmd.Context(), g, args, noCache)
		},
	}
	build.Flags().BoolVar(&noCache, "no-cache", false, "assemble the image again even when the packages did not change")
	cmd.AddCommand(build)
	return cmd
}

func runBaseBuild(ctx context.Context, g *Globals, runtimes []string, noCache bool) error {
	for _, rt := range runtimes {
		if !image.OfflineRuntime(rt) {
			return fmt.Errorf("esb base build supports %s, not %q", strings.Join(image.OfflineRuntimes(), ", "), rt)
		}
	}
	wd, err := workDir()
	if err != nil {
		return err
	}
	// The project decides the mode and gets the runtimes recorded; without
	// one the image is still built and loaded.
	proj, perr := project.Load(project.Options{Template: g.Template, Env: g.Env, Dir: wd})
	mode, registry := os.Getenv(project.EnvMode), ""
	if perr == nil {
		mode, registry = proj.Mode, proj.Registry
	}
	set := image.SettingsFromEnv(os.Getenv, mode, registry)
	st, err := image.OpenStore(set.CacheDir)
	if err != nil {
		return err
	}
	// A base image goes to the local daemon only: function images carry its
	// layers to a registry.
	set.Registry = ""
	target, err := image.OpenTarget(ctx, set)
	if err != nil {
		return err
	}
	defer target.Close()
	progress := image.NewProgress(g.Stderr, isTerminalWriter(g.Stderr))
	defer progress.Close()
	for _, rt := range runtimes {
		res, err := image.BuildBase(ctx, image.BaseOptions{Runtime: rt, Store: st, Target: target, NoCache: noCache, Progress: progress})
		if err != nil {
			return fmt.Errorf("esb base build %s: %w", rt, err)
		}
		printBase(g.Stdout, res, target.Name())
		if perr != nil {
			continue
		}
		if proj.Config.Runtimes == nil {
			proj.Config.Runtimes = map[string]string{}
		}
		if proj.Config.Runtimes[rt] == res.Ref && proj.HasConfig {
			fmt.Fprintf(g.Stdout, "  generator.yml    runtimes.%s is %s already\n", rt, res.Ref)
			continue
		}
		proj.Config.Runtimes[rt] = res.Ref
		if err := proj.SaveConfig(); err != nil {
			return err
		}
		fmt.Fprintf(g.Stdout, "  generator.yml    recorded runtimes.%s: %s in %s\n", rt, res.Ref, project.Rel(wd, proj.ConfigPath))
	}
	if perr != nil {
		fmt.Fprintf(g.Stderr, "warning: not recorded in generator.yml (%v); run esb base build in the project's directory, or set runtimes: in its generator.yml by hand\n", perr)
	}
	return nil
}

var interpreterVersion = regexp.MustCompile(`(Python|Node\.js) v?(\d+)\.(\d+)`)

// printBase shows what the base image is, saying plainly which interpreter
// stands in for the runtime.
func printBase(w io.Writer, r *image.BaseResult, target string) {
	how := "assembled"
	if r.Reused {
		how = "up to date (packages unchanged)"
	}
	fmt.Fprintf(w, "Base image %s for %s: %s, %s\n", r.Ref, r.Runtime, how, r.Elapsed.Round(1e6))
	note := ""
	if m := interpreterVersion.FindStringSubmatch(r.Interpreter); m != nil {
		have := m[2] + "." + m[3]
		if m[1] == "Python" && "python"+have != r.Runtime {
			note = fmt.Sprintf(" — this host's Python %s stands in for %s", have, r.Runtime)
		}
		if m[1] == "Node.js" && "nodejs"+m[2]+".x" != r.Runtime {
			note = fmt.Sprintf(" — this host's Node.js %s stands in for %s", m[2], r.Runtime)
		}
	}
	fmt.Fprintf(w, "  interpreter      %s%s\n", r.Interpreter, note)
	shown := r.Packages
	more := ""
	if len(shown) > 6 {
		shown, more = shown[:6], fmt.Sprintf(", … %d more", len(r.Packages)-6)
	}
	fmt.Fprintf(w, "  packages         %d (%s%s)\n", len(r.Packages), strings.Join(shown, ", "), more)
	fmt.Fprintf(w, "  layer            %d files, %.1f MB, image %s\n", r.Files, float64(r.Size)/(1<<20), shortID(r.ID))
	if r.Sent.UpToDate {
		fmt.Fprintf(w, "  %-16s already there\n", target)
	} else {
		fmt.Fprintf(w, "  %-16s %s (%s, %.1f MB)\n", target, r.Sent.Verb, plural(r.Sent.Layers, "layer"), float64(r.Sent.Bytes)/(1<<20))
	}
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
