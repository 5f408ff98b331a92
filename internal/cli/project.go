package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/project"
)

func newProjectCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "project [DIR]",
		Short: "Show or switch the current project",
		Long: `Without DIR, show the current project (the directory whose generator.yml and
template.yaml esb uses when the working directory has none) and the projects
used before. With DIR, make it the current project; DIR must hold generator.yml
or template.yaml. The current project is kept in a per-user state file:
$XDG_CONFIG_HOME/esb/state.yml, or ~/.esb/state.yml.`,
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return runProjectUse(g, args[0])
			}
			return runProjectShow(g)
		},
	}
	return cmd
}

func runProjectUse(g *Globals, dir string) error {
	wd, err := workDir()
	if err != nil {
		return err
	}
	proj, err := project.Open(dir, project.Options{Dir: wd, AnyEnvironment: true})
	if err != nil {
		return err
	}
	stateDir, err := project.StateDir(os.Getenv)
	if err != nil {
		return err
	}
	st, err := project.ReadState(stateDir)
	if err != nil {
		return err
	}
	st.Use(proj.Dir)
	if err := project.WriteState(stateDir, st); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "current project: %s (%s)\n", proj.Dir, proj.Name)
	if !proj.HasConfig {
		fmt.Fprintln(g.Stdout, "it has no generator.yml yet; run `esb init` there")
	}
	return nil
}

func runProjectShow(g *Globals) error {
	wd, err := workDir()
	if err != nil {
		return err
	}
	stateDir, err := project.StateDir(os.Getenv)
	if err != nil {
		return err
	}
	st, err := project.ReadState(stateDir)
	if err != nil {
		return err
	}
	if st.CurrentProject == "" {
		fmt.Fprintln(g.Stdout, "no current project; run `esb init` in a project or `esb project DIR`")
	} else {
		proj, err := project.Open(st.CurrentProject, project.Options{Dir: wd, Env: g.Env, AnyEnvironment: true})
		switch {
		case errors.Is(err, project.ErrNoProject):
			fmt.Fprintf(g.Stdout, "current project: %s (gone: it has no generator.yml or template.yaml any more)\n", st.CurrentProject)
		case err != nil:
			return err
		default:
			fmt.Fprintf(g.Stdout, "current project: %s\n", proj.Dir)
			fmt.Fprintf(g.Stdout, "  name:        %s\n", proj.Name)
			fmt.Fprintf(g.Stdout, "  template:    %s\n", proj.TemplatePath)
			cfg := proj.ConfigPath
			if !proj.HasConfig {
				cfg += " (missing; run `esb init`)"
			}
			fmt.Fprintf(g.Stdout, "  config:      %s\n", cfg)
			fmt.Fprintf(g.Stdout, "  environment: %s (mode %s)\n", proj.Env, proj.Mode)
			fmt.Fprintf(g.Stdout, "  output:      %s\n", proj.OutputDir)
		}
	}
	if len(st.Projects) > 1 {
		fmt.Fprintln(g.Stdout, "\nprojects used before:")
		for _, p := range st.Projects[1:] {
			fmt.Fprintf(g.Stdout, "  %s\n", p)
		}
	}
	if g.Verbose {
		fmt.Fprintf(g.Stdout, "\n(state file: %s)\n", project.Rel(wd, stateDir+"/"+project.StateFile))
	}
	return nil
}
