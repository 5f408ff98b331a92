package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/charmbracelet/huh"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/edgeserverlessbox/esb/internal/project"
	"github.com/edgeserverlessbox/esb/internal/sam"
)

type initOptions struct {
	yes       bool
	params    []string
	tag       string
	outputDir string
	mode      string
	// interactive runs the form; set when stdin is a terminal and --yes is not given.
	interactive bool
	// accessible runs the form as plain line prompts ($ACCESSIBLE, as huh does).
	accessible bool
}

func newInitCommand(g *Globals) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create generator.yml for a template interactively",
		Long: `Create (or update) generator.yml next to the template: a value for each template
Parameter, the image tag (default latest) and the output directory (default
.esb/). Interactive when stdin is a terminal; with --yes, or when stdin is not
a terminal, values come from --param, --tag, --output-dir, the existing
generator.yml and the template's defaults. The project becomes the current
project (see esb project).`,
		Example: `  esb init
  esb --template path/to/template.yaml init
  esb init --yes --param Stage=prod --tag v1 --output-dir .esb/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.interactive = !o.yes && isTerminal(g.Stdin)
			o.accessible = os.Getenv("ACCESSIBLE") != ""
			return runInit(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask; take values from flags, generator.yml and template defaults")
	f.StringArrayVar(&o.params, "param", nil, "template parameter value `NAME=VALUE` (repeatable)")
	f.StringVar(&o.tag, "tag", "", "image tag (default: latest, or the current app.tag)")
	f.StringVar(&o.outputDir, "output-dir", "", "output directory for build files (default: .esb/)")
	f.StringVar(&o.mode, "mode", "", "mode of the current environment: "+strings.Join(project.Modes, ", "))
	return cmd
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func runInit(ctx context.Context, g *Globals, o initOptions) error {
	wd, err := workDir()
	if err != nil {
		return err
	}
	tplPath, _, _, err := project.FindTemplate(project.Options{Template: g.Template, Dir: wd})
	if err != nil {
		return err
	}
	// generator.yml goes next to the template.
	dir := filepath.Dir(tplPath)
	display := project.Rel(wd, tplPath)
	tpl, err := sam.ParseFile(tplPath, display)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, project.ConfigFile)
	cfg, existed, err := project.ReadConfig(cfgPath, project.Rel(wd, cfgPath))
	if err != nil {
		return err
	}
	cfg.Paths.SamTemplate = filepath.Base(tplPath)

	declared := map[string]*sam.Parameter{}
	for _, p := range tpl.Parameters {
		declared[p.Name] = p
	}
	values := map[string]string{}
	for k, v := range cfg.Parameters {
		if declared[k] != nil {
			values[k] = v
		}
	}
	for _, kv := range o.params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--param %q must be NAME=VALUE", kv)
		}
		if declared[k] == nil {
			return fmt.Errorf("--param %s: %s has no parameter %s (it has: %s)", k, display, k, paramNames(tpl))
		}
		values[k] = v
	}
	for _, p := range tpl.Parameters {
		if _, ok := values[p.Name]; !ok && p.Default != nil {
			values[p.Name] = *p.Default
		}
	}
	if o.tag != "" {
		cfg.App.Tag = o.tag
	}
	if o.outputDir != "" {
		cfg.Paths.OutputDir = o.outputDir
	}
	if o.mode != "" {
		if !project.ValidMode(o.mode) {
			return fmt.Errorf("--mode %q is not a mode; use one of %s", o.mode, strings.Join(project.Modes, ", "))
		}
		cfg.Environments[cfg.CurrentEnvironment] = project.Environment{Mode: o.mode}
	}

	if o.interactive {
		if err := initForm(ctx, g, o, tpl, values, &cfg); err != nil {
			return err
		}
	}
	for _, p := range tpl.Parameters {
		v, ok := values[p.Name]
		if !ok {
			return fmt.Errorf("%s:%d: parameter %s has no Default; pass --param %s=VALUE", display, p.Line, p.Name, p.Name)
		}
		if err := p.Check(v); err != nil {
			return fmt.Errorf("parameter %s: %s", p.Name, err)
		}
	}
	cfg.Parameters = values
	if len(values) == 0 {
		cfg.Parameters = nil
	}
	if err := cfg.Validate(project.ConfigFile); err != nil {
		return err
	}
	if err := project.WriteConfig(cfgPath, cfg); err != nil {
		return err
	}

	if stateDir, err := project.StateDir(os.Getenv); err == nil {
		st, err := project.ReadState(stateDir)
		if err == nil {
			st.Use(dir)
			err = project.WriteState(stateDir, st)
		}
		if err != nil {
			fmt.Fprintln(g.Stderr, "warning: could not record the current project:", err)
		}
	}
	verb := "wrote"
	if existed {
		verb = "updated"
	}
	env := cfg.CurrentEnvironment
	fmt.Fprintf(g.Stdout, "%s %s (tag %s, output %s, environment %s: %s, %s)\n", verb, project.Rel(wd, cfgPath),
		cfg.App.Tag, cfg.Paths.OutputDir, env, cfg.Environments[env].Mode, plural(len(values), "parameter"))
	fmt.Fprintln(g.Stdout, "next: esb build")
	return nil
}

func paramNames(t *sam.Template) string {
	if len(t.Parameters) == 0 {
		return "none"
	}
	names := make([]string, len(t.Parameters))
	for i, p := range t.Parameters {
		names[i] = p.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// initForm asks for every parameter, the tag and the output directory.
func initForm(ctx context.Context, g *Globals, o initOptions, tpl *sam.Template, values map[string]string, cfg *project.Config) error {
	vals := make([]string, len(tpl.Parameters))
	var fields []huh.Field
	for i, p := range tpl.Parameters {
		vals[i] = values[p.Name]
		desc := p.Description
		if p.Default != nil {
			desc = strings.TrimSpace(desc + fmt.Sprintf(" (default: %q)", *p.Default))
		}
		if len(p.AllowedValues) > 0 {
			if vals[i] == "" {
				vals[i] = p.AllowedValues[0]
			}
			fields = append(fields, huh.NewSelect[string]().
				Title("Parameter "+p.Name).
				Description(desc).
				Options(huh.NewOptions(p.AllowedValues...)...).
				Value(&vals[i]))
			continue
		}
		check := p.Check
		fields = append(fields, huh.NewInput().
			Title("Parameter "+p.Name).
			Description(desc).
			Value(&vals[i]).
			Validate(check))
	}
	tag, out := cfg.App.Tag, cfg.Paths.OutputDir
	fields = append(fields,
		huh.NewInput().Title("Image tag").Description("tag of the function images (default: latest)").Value(&tag).
			Validate(func(s string) error {
				if strings.ContainsAny(s, " :/@") {
					return errors.New("a tag has letters, digits, ., _ and -")
				}
				return nil
			}),
		huh.NewInput().Title("Output directory").Description("where esb build writes config and Dockerfiles (default: .esb/)").Value(&out),
	)
	form := huh.NewForm(huh.NewGroup(fields...)).WithInput(g.Stdin).WithOutput(g.Stdout).WithAccessible(o.accessible)
	if ctx == nil {
		ctx = context.Background()
	}
	if err := form.RunWithContext(ctx); err != nil {
		if errors.Is(err, huh.ErrUserAborted) {
			return &ExitError{Code: 130, Err: errors.New("init aborted; generator.yml is unchanged")}
		}
		return fmt.Errorf("run the init form: %w", err)
	}
	for i, p := range tpl.Parameters {
		values[p.Name] = strings.TrimSpace(vals[i])
	}
	if t := strings.TrimSpace(tag); t != "" {
		cfg.App.Tag = t
	}
	if d := strings.TrimSpace(out); d != "" {
		cfg.Paths.OutputDir = d
	}
	return nil
}
