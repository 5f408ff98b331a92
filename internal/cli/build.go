package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/edgeserverlessbox/esb/internal/image"
	"github.com/edgeserverlessbox/esb/internal/project"
)

type buildOptions struct {
	dryRun  bool
	noCache bool
}

func newBuildCommand(g *Globals) *cobra.Command {
	var o buildOptions
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Compile template.yaml and build one image per function",
		Long: `Compile the SAM template (with generator.yml's parameters) into
<output_dir>/config/functions.yml, routing.yml and resources.yml, write one
Dockerfile per function under <output_dir>/functions/<name>/, print a summary,
then build the function images.

With --dry-run esb stops after writing those files (no Docker or containerd
needed). --verbose shows where every resolved value came from.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), g, o)
		},
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "compile and write the build files, build no image")
	cmd.Flags().BoolVar(&o.noCache, "no-cache", false, "rebuild every image layer")
	return cmd
}

func runBuild(ctx context.Context, g *Globals, o buildOptions) error {
	wd, err := workDir()
	if err != nil {
		return err
	}
	proj, err := project.Load(project.Options{Template: g.Template, Env: g.Env, Dir: wd})
	if err != nil {
		return err
	}
	out, err := generateBuild(proj, wd)
	for _, w := range out.warnings() {
		fmt.Fprintln(g.Stderr, "warning:", w)
	}
	if err != nil {
		return err
	}
	printBuildSummary(g.Stdout, proj, out, wd, g.Verbose)
	if o.dryRun {
		return nil
	}
	return buildImages(ctx, g, proj, out.plans, o)
}

// buildImages builds the function images from the plans the Dockerfiles were
// rendered from, and loads them into Docker, imports them into containerd or
// pushes them, as the project's mode says.
func buildImages(ctx context.Context, g *Globals, proj *project.Project, plans []*image.Plan, o buildOptions) error {
	if len(plans) == 0 {
		return nil
	}
	wd, err := workDir()
	if err != nil {
		return err
	}
	set := image.SettingsFromEnv(os.Getenv, proj.Mode, proj.Registry)
	st, err := image.OpenStore(set.CacheDir)
	if err != nil {
		return err
	}
	target, err := image.OpenTarget(ctx, set)
	if err != nil {
		return err
	}
	defer target.Close()
	progress := image.NewProgress(g.Stderr, isTerminalWriter(g.Stderr))
	defer progress.Close()
	opts := image.BuildOptions{
		Store:     st,
		Target:    target,
		NoCache:   o.noCache,
		OutputDir: proj.OutputDir,
		RIE:       findRIE(set.RIE, filepath.Dir(proj.TemplatePath), wd),
		Progress:  progress,
		Jobs:      min(runtime.NumCPU(), 4),
	}
	if g.Verbose {
		opts.Verbose = g.Stderr
	}
	fmt.Fprintf(g.Stderr, "\nBuilding %s into %s (cache %s)\n", plural(len(plans), "image"), target.Name(), project.Rel(wd, set.CacheDir))
	start := time.Now()
	results, err := image.NewBuilder(opts).Build(ctx, plans)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr, "Built %s in %s\n", plural(len(results), "image"), time.Since(start).Round(time.Millisecond))
	// Layers no build used for a month go (the cache refills on demand).
	if _, _, err := st.Prune(cachePruneAge); err != nil {
		fmt.Fprintln(g.Stderr, "warning:", err)
	}
	return nil
}

// cachePruneAge is how long an unused blob stays in the build cache.
const cachePruneAge = 30 * 24 * time.Hour

// findRIE says where esb-rie comes from: $ESB_RIE; else the esb source tree
// (found above the template, the working directory or the esb binary),
// built for each architecture; else the esb-rie next to the esb binary.
func findRIE(env, templateDir, wd string) image.RIE {
	if env != "" {
		return image.RIE{Binary: env}
	}
	exe, _ := os.Executable()
	for _, start := range []string{templateDir, wd, filepath.Dir(exe)} {
		if dir := esbSourceRoot(start); dir != "" {
			return image.RIE{SourceDir: dir}
		}
	}
	if exe != "" {
		if p := filepath.Join(filepath.Dir(exe), "esb-rie"); fileExists(p) {
			return image.RIE{Binary: p}
		}
	}
	return image.RIE{}
}

// esbSourceRoot finds the esb module's root at or above dir.
func esbSourceRoot(dir string) string {
	for d := dir; d != "" && d != "."; {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/edgeserverlessbox/esb\n")) && fileExists(filepath.Join(d, "cmd", "esb-rie", "main.go")) {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// isTerminalWriter reports whether w is an interactive terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
