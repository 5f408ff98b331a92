package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/project"
)

func newEnvCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Manage environments in generator.yml (add, list, use, remove)",
		Long: `Environments live in generator.yml: each has a name and a mode (docker,
containerd or firecracker). The current environment is used unless --env NAME
or $ESB_ENV selects another; $ESB_MODE overrides the mode of any environment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runEnvList(g) },
	}
	var mode string
	var use bool
	add := &cobra.Command{
		Use:   "add NAME --mode docker|containerd|firecracker",
		Short: "Add an environment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnvAdd(g, args[0], mode, use)
		},
	}
	add.Flags().StringVar(&mode, "mode", project.ModeDocker, "how the environment runs functions: "+strings.Join(project.Modes, ", "))
	add.Flags().BoolVar(&use, "use", false, "make it the current environment")
	_ = add.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions(project.Modes, cobra.ShellCompDirectiveNoFileComp))

	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the environments; * marks the current one",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return runEnvList(g) },
	}
	useCmd := &cobra.Command{
		Use:               "use NAME",
		Short:             "Make an environment the current one",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: envNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnvUse(g, args[0])
		},
	}
	remove := &cobra.Command{
		Use:               "remove NAME",
		Aliases:           []string{"rm"},
		Short:             "Remove an environment (not the current one)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: envNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnvRemove(g, args[0])
		},
	}
	cmd.AddCommand(add, list, useCmd, remove)
	return cmd
}

// loadForEnv loads the project whose generator.yml the env commands edit.
func loadForEnv(g *Globals) (*project.Project, string, error) {
	wd, err := workDir()
	if err != nil {
		return nil, "", err
	}
	proj, err := project.Load(project.Options{Template: g.Template, Env: g.Env, Dir: wd, AnyEnvironment: true})
	if err != nil {
		return nil, "", err
	}
	if err := proj.RequireConfig(wd); err != nil {
		return nil, "", err
	}
	return proj, wd, nil
}

func envNames(g *Globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		proj, _, err := loadForEnv(g)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return proj.Config.EnvironmentNames(), cobra.ShellCompDirectiveNoFileComp
	}
}

func runEnvList(g *Globals) error {
	proj, wd, err := loadForEnv(g)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tMODE")
	for _, n := range proj.Config.EnvironmentNames() {
		mark := " "
		if n == proj.Config.CurrentEnvironment {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s %s\t%s\n", mark, n, proj.Config.Environments[n].Mode)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print environments: %w", err)
	}
	if g.Verbose {
		fmt.Fprintf(g.Stdout, "\n(from %s)\n", project.Rel(wd, proj.ConfigPath))
	}
	return nil
}

func runEnvAdd(g *Globals, name, mode string, use bool) error {
	if !project.ValidEnvironmentName(name) {
		return fmt.Errorf("environment name %q must be letters, digits, ., _ and - (starting with a letter or digit)", name)
	}
	if !project.ValidMode(mode) {
		return fmt.Errorf("--mode %q is not a mode; use one of %s", mode, strings.Join(project.Modes, ", "))
	}
	proj, wd, err := loadForEnv(g)
	if err != nil {
		return err
	}
	if old, ok := proj.Config.Environments[name]; ok {
		return fmt.Errorf("environment %s already exists (mode %s); remove it first with `esb env remove %s`", name, old.Mode, name)
	}
	proj.Config.Environments[name] = project.Environment{Mode: mode}
	if use {
		proj.Config.CurrentEnvironment = name
	}
	if err := proj.SaveConfig(); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "added environment %s (mode %s) to %s\n", name, mode, project.Rel(wd, proj.ConfigPath))
	if use {
		fmt.Fprintf(g.Stdout, "current environment: %s\n", name)
	}
	return nil
}

func runEnvUse(g *Globals, name string) error {
	proj, wd, err := loadForEnv(g)
	if err != nil {
		return err
	}
	env, ok := proj.Config.Environments[name]
	if !ok {
		return fmt.Errorf("environment %s is not defined in %s (defined: %s); add it with `esb env add %s --mode docker`",
			name, project.Rel(wd, proj.ConfigPath), strings.Join(proj.Config.EnvironmentNames(), ", "), name)
	}
	proj.Config.CurrentEnvironment = name
	if err := proj.SaveConfig(); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "current environment: %s (mode %s)\n", name, env.Mode)
	return nil
}

func runEnvRemove(g *Globals, name string) error {
	proj, wd, err := loadForEnv(g)
	if err != nil {
		return err
	}
	if _, ok := proj.Config.Environments[name]; !ok {
		return fmt.Errorf("environment %s is not defined in %s (defined: %s)", name, project.Rel(wd, proj.ConfigPath), strings.Join(proj.Config.EnvironmentNames(), ", "))
	}
	if name == proj.Config.CurrentEnvironment {
		return fmt.Errorf("environment %s is the current one; switch first with `esb env use <other>`", name)
	}
	delete(proj.Config.Environments, name)
	if err := proj.SaveConfig(); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "removed environment %s from %s\n", name, project.Rel(wd, proj.ConfigPath))
	return nil
}
