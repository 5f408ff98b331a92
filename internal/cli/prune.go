package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/docker/docker/api/types/filters"
	dimage "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/agent"
	ctrd "github.com/edgeserverlessbox/esb/internal/agent/containerd"
	"github.com/edgeserverlessbox/esb/internal/image"
	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

type pruneOptions struct {
	yes, all, volumes, hard bool
}

func newPruneCommand(g *Globals) *cobra.Command {
	o := pruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove esb images, containers and volumes",
		Long: `A system prune limited to what esb made (objects labelled esb.managed=true):

  stopped function containers of every esb project,
  esb images no container uses that lost their tag (--all: every unused esb image,
  and the whole image build cache),
  --volumes: this project's stored data (tables, objects), when it is not running,
  --hard: also this project's generator.yml and output directory.

Without --yes it only lists what it would remove.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "yes", "y", false, "remove (without it, only list)")
	f.BoolVar(&o.all, "all", false, "remove every unused esb image and the build cache, not only untagged images")
	f.BoolVar(&o.volumes, "volumes", false, "also remove this project's stored data")
	f.BoolVar(&o.hard, "hard", false, "also remove generator.yml and the output directory")
	return cmd
}

// pruneItem is one thing prune removes.
type pruneItem struct {
	what   string
	remove func(ctx context.Context) error
}

func runPrune(ctx context.Context, g *Globals, o pruneOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	wd, err := workDir()
	if err != nil {
		return err
	}
	proj, perr := project.Load(project.Options{Template: g.Template, Env: g.Env, Dir: wd})
	mode := firstNonEmpty(os.Getenv(project.EnvMode), project.ModeDocker)
	if perr == nil {
		mode = proj.Mode
	} else if o.volumes || o.hard {
		return perr
	}
	var items []pruneItem
	var l supervisor.Layout
	if perr == nil {
		l = layoutOf(proj)
	}
	rt, err := openRuntime(ctx, mode, supervisor.Layout{Root: filepath.Join(os.TempDir(), "esb-prune")})
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	defer rt.Close()
	list, err := rt.List(ctx, agent.Filter{})
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, c := range list {
		inUse[c.Image] = true
		if c.State == agent.StateRunning || c.State == agent.StatePaused {
			continue
		}
		id := c.ID
		items = append(items, pruneItem{fmt.Sprintf("container %s (%s, %s)", c.Name, c.Project, c.State), func(ctx context.Context) error { return rt.Remove(ctx, id) }})
	}
	imgs, err := pruneImages(ctx, mode, o.all, inUse)
	if err != nil {
		return err
	}
	items = append(items, imgs...)
	if o.all {
		set := image.SettingsFromEnv(os.Getenv, mode, "")
		items = append(items, pruneItem{"image build cache " + set.CacheDir, func(context.Context) error {
			st, err := image.OpenStore(set.CacheDir)
			if err != nil {
				return err
			}
			_, _, err = st.Prune(0)
			return err
		}})
	}
	if o.volumes || o.hard {
		if _, err := supervisor.NewClient(l).Status(ctx); err == nil {
			return fmt.Errorf("%s is running; stop it with `esb down` before pruning its data", proj.Name)
		}
		if _, err := os.Stat(l.Data()); err == nil {
			items = append(items, pruneItem{"data of " + proj.Name + " (" + project.Rel(wd, l.Data()) + ")", func(context.Context) error { return os.RemoveAll(l.Data()) }})
		}
	}
	if o.hard {
		out, cfgPath := proj.OutputDir, proj.ConfigPath
		items = append(items, pruneItem{"output directory " + project.Rel(wd, out), func(context.Context) error { return os.RemoveAll(out) }})
		if proj.HasConfig {
			items = append(items, pruneItem{project.Rel(wd, cfgPath), func(context.Context) error { return os.Remove(cfgPath) }})
		}
	}
	if len(items) == 0 {
		fmt.Fprintln(g.Stdout, "Nothing to prune.")
		return nil
	}
	verb := "Would remove"
	if o.yes {
		verb = "Removing"
	}
	fmt.Fprintf(g.Stdout, "%s:\n", verb)
	var errs []error
	for _, it := range items {
		fmt.Fprintf(g.Stdout, "  %s\n", it.what)
		if o.yes {
			if err := it.remove(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", it.what, err))
			}
		}
	}
	if !o.yes {
		fmt.Fprintln(g.Stdout, "Run `esb prune --yes` (with the same flags) to remove them.")
	}
	return errors.Join(errs...)
}

// pruneImages lists esb's images no container uses: untagged ones, or with
// all every one.
func pruneImages(ctx context.Context, mode string, all bool, inUse map[string]bool) ([]pruneItem, error) {
	if mode == project.ModeContainerd {
		addr := envOr("CONTAINERD_ADDRESS", ctrd.DefaultAddress)
		ns := envOr("CONTAINERD_NAMESPACE", ctrd.DefaultNamespace)
		c, err := containerd.New(addr, containerd.WithTimeout(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("containerd at %s: %w", addr, err)
		}
		ctx = namespaces.WithNamespace(ctx, ns)
		list, err := c.ImageService().List(ctx)
		if err != nil {
			c.Close()
			return nil, err
		}
		var out []pruneItem
		for _, img := range list {
			short := strings.TrimPrefix(img.Name, "docker.io/library/")
			if !all || inUse[img.Name] || inUse[short] || !strings.HasPrefix(short, "esb-") {
				continue
			}
			name := img.Name
			out = append(out, pruneItem{"image " + name + " (containerd namespace " + ns + ")", func(ctx context.Context) error {
				return c.ImageService().Delete(namespaces.WithNamespace(ctx, ns), name, images.SynchronousDelete())
			}})
		}
		return out, nil
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	f := filters.NewArgs(filters.Arg("label", agent.LabelManaged+"=true"))
	if !all {
		f.Add("dangling", "true")
	}
	list, err := cli.ImageList(ctx, dimage.ListOptions{All: false, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list docker images: %w", err)
	}
	var out []pruneItem
	for _, img := range list {
		name := strings.TrimPrefix(img.ID, "sha256:")
		if len(name) > 12 {
			name = name[:12] + " (untagged)"
		}
		used := false
		for _, t := range img.RepoTags {
			if inUse[t] {
				used = true
			}
			if t != "<none>:<none>" {
				name = t
			}
		}
		if used || img.Containers > 0 {
			continue
		}
		id := img.ID
		out = append(out, pruneItem{"image " + name, func(ctx context.Context) error {
			_, err := cli.ImageRemove(ctx, id, dimage.RemoveOptions{Force: false, PruneChildren: true})
			return err
		}})
	}
	return out, nil
}
