package project

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// Environment variables that select a template, an environment and a mode.
const (
	EnvTemplate           = "ESB_TEMPLATE"
	EnvEnvironment        = "ESB_ENV"
	EnvMode               = "ESB_MODE"
	EnvRegion             = "ESB_REGION"
	EnvDefaultMaxCapacity = "ESB_DEFAULT_MAX_CAPACITY"
	EnvRegistry           = "CONTAINER_REGISTRY"
)

// FixtureTemplate is the last place template discovery looks, relative to the
// working directory.
const FixtureTemplate = "e2e/fixtures/template.yaml"

// Options say where to look for a project.
type Options struct {
	// Template is the --template flag (empty: discover).
	Template string
	// Env is the --env flag (empty: ESB_ENV, then the current environment).
	Env string
	// Dir is the working directory (empty: the process's).
	Dir string
	// Getenv reads environment variables (nil: os.Getenv).
	Getenv func(string) string
	// AnyEnvironment accepts a selected environment that generator.yml does
	// not define (Mode is then empty); `esb env` uses it to repair the file.
	AnyEnvironment bool
}

// Project is a located and configured esb project. Later commands (build, up)
// take everything they need from it.
type Project struct {
	// Dir is the project directory: where generator.yml is (or would be).
	Dir string
	// Name is the project name (app.name, else Dir's base name), safe for labels.
	Name string
	// TemplatePath is the absolute path of template.yaml.
	TemplatePath string
	// TemplateSource says how the template was found (for --verbose).
	TemplateSource string
	// ConfigPath is the absolute path of generator.yml.
	ConfigPath string
	// HasConfig is false when generator.yml does not exist (defaults apply).
	HasConfig bool
	// Config is generator.yml with defaults applied.
	Config Config
	// OutputDir is the absolute output directory.
	OutputDir string
	// Env is the selected environment and Mode its mode; ModeSource says
	// where the mode came from.
	Env, Mode, ModeSource string
	// Region is the AWS region functions see.
	Region string
	// DefaultMaxCapacity is max_capacity for functions without ReservedConcurrentExecutions.
	DefaultMaxCapacity int
	// Registry prefixes image names when set (CONTAINER_REGISTRY).
	Registry string
}

// ConfigDir is <output_dir>/config.
func (p *Project) ConfigDir() string { return filepath.Join(p.OutputDir, "config") }

// FunctionsPath is where functions.yml goes.
func (p *Project) FunctionsPath() string {
	if p.Config.Paths.FunctionsYml != "" {
		return p.abs(p.Config.Paths.FunctionsYml)
	}
	return filepath.Join(p.ConfigDir(), manifest.FunctionsFile)
}

// RoutingPath is where routing.yml goes.
func (p *Project) RoutingPath() string {
	if p.Config.Paths.RoutingYml != "" {
		return p.abs(p.Config.Paths.RoutingYml)
	}
	return filepath.Join(p.ConfigDir(), manifest.RoutingFile)
}

// ResourcesPath is where resources.yml goes.
func (p *Project) ResourcesPath() string {
	return filepath.Join(p.ConfigDir(), manifest.ResourcesFile)
}

func (p *Project) abs(rel string) string {
	if filepath.IsAbs(rel) {
		return filepath.Clean(rel)
	}
	return filepath.Join(p.Dir, rel)
}

// Rel shows path relative to the working directory when that is shorter.
func Rel(wd, path string) string {
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

func (o *Options) fill() error {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("find working directory: %w", err)
		}
		o.Dir = wd
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("find working directory: %w", err)
	}
	o.Dir = abs
	return nil
}

// Load finds the project's template and generator.yml, applies defaults and
// environment variables, and selects the environment.
func Load(opts Options) (*Project, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	tpl, source, projDir, err := FindTemplate(opts)
	if err != nil {
		return nil, err
	}
	return loadAt(opts, tpl, source, projDir)
}

func loadAt(opts Options, tpl, source, dir string) (*Project, error) {
	p := &Project{Dir: dir, TemplatePath: tpl, TemplateSource: source, ConfigPath: filepath.Join(dir, ConfigFile)}
	cfg, ok, err := ReadConfig(p.ConfigPath, Rel(opts.Dir, p.ConfigPath))
	if err != nil {
		return nil, err
	}
	p.Config, p.HasConfig = cfg, ok
	p.OutputDir = p.abs(cfg.Paths.OutputDir)
	p.Name = cfg.App.Name
	if p.Name == "" {
		p.Name = filepath.Base(dir)
	}
	p.Name = SafeName(p.Name)

	p.Env = opts.Env
	explicit := p.Env != ""
	if !explicit {
		p.Env = opts.Getenv(EnvEnvironment)
		explicit = p.Env != ""
	}
	if !explicit {
		p.Env = cfg.CurrentEnvironment
	}
	env, found := cfg.Environments[p.Env]
	if !found && !opts.AnyEnvironment {
		return nil, fmt.Errorf("environment %q is not defined in %s (defined: %s); add it with `esb env add %s --mode docker`",
			p.Env, Rel(opts.Dir, p.ConfigPath), strings.Join(cfg.EnvironmentNames(), ", "), p.Env)
	}
	p.Mode, p.ModeSource = env.Mode, "environment "+p.Env
	if m := opts.Getenv(EnvMode); m != "" {
		if !ValidMode(m) {
			return nil, fmt.Errorf("%s=%q is not a mode; use one of %s", EnvMode, m, strings.Join(Modes, ", "))
		}
		p.Mode, p.ModeSource = m, EnvMode
	}

	p.Region = cfg.App.Region
	if r := opts.Getenv(EnvRegion); r != "" {
		p.Region = r
	}
	if p.Region == "" {
		p.Region = "us-east-1"
	}
	p.DefaultMaxCapacity = cfg.Scaling.DefaultMaxCapacity
	if v := opts.Getenv(EnvDefaultMaxCapacity); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s=%q must be a positive whole number", EnvDefaultMaxCapacity, v)
		}
		p.DefaultMaxCapacity = n
	}
	p.Registry = opts.Getenv(EnvRegistry)
	return p, nil
}

// SafeName lower-cases a name and keeps letters, digits and hyphens, so it can
// be used in labels, image and network names.
func SafeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "esb"
	}
	return out
}

// FindTemplate locates template.yaml. Order: --template, $ESB_TEMPLATE,
// ./template.yaml, the project root's template (the nearest directory upwards
// with generator.yml, else the current project of the state file),
// e2e/fixtures/template.yaml. It returns the template's absolute path, how it
// was found, and the project directory.
func FindTemplate(opts Options) (path, source, projectDir string, err error) {
	if err := opts.fill(); err != nil {
		return "", "", "", err
	}
	explicit := func(p, what string) (string, string, string, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(opts.Dir, p)
		}
		st, err := os.Stat(p)
		if err != nil {
			return "", "", "", fmt.Errorf("template %s (from %s) does not exist; check the path", p, what)
		}
		if st.IsDir() {
			p = filepath.Join(p, DefaultTemplate)
			if !fileExists(p) {
				return "", "", "", fmt.Errorf("%s (from %s) is a directory without %s", filepath.Dir(p), what, DefaultTemplate)
			}
		}
		return p, what, filepath.Dir(p), nil
	}
	if opts.Template != "" {
		return explicit(opts.Template, "--template")
	}
	if t := opts.Getenv(EnvTemplate); t != "" {
		return explicit(t, EnvTemplate)
	}
	if p := filepath.Join(opts.Dir, DefaultTemplate); fileExists(p) {
		return p, "./" + DefaultTemplate, opts.Dir, nil
	}
	for d := opts.Dir; ; {
		if fileExists(filepath.Join(d, ConfigFile)) {
			if p, ok := templateOf(d); ok {
				return p, "project root " + d, d, nil
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if stateDir, err := StateDir(opts.Getenv); err == nil {
		if st, err := ReadState(stateDir); err == nil && st.CurrentProject != "" {
			if p, ok := templateOf(st.CurrentProject); ok {
				return p, "current project " + st.CurrentProject, st.CurrentProject, nil
			}
		}
	}
	if p := filepath.Join(opts.Dir, filepath.FromSlash(FixtureTemplate)); fileExists(p) {
		return p, FixtureTemplate, filepath.Dir(p), nil
	}
	return "", "", "", fmt.Errorf("no template.yaml found (looked at $%s, ./%s, the project root and ./%s); pass --template PATH or cd into your project",
		EnvTemplate, DefaultTemplate, FixtureTemplate)
}

// templateOf returns the template a project directory names (its
// generator.yml paths.sam_template, else template.yaml), if it exists.
func templateOf(dir string) (string, bool) {
	name := DefaultTemplate
	if cfg, ok, err := ReadConfig(filepath.Join(dir, ConfigFile), ConfigFile); err == nil && ok {
		name = cfg.Paths.SamTemplate
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return p, fileExists(p)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// RequireConfig returns an error telling the user to run `esb init` when the
// project has no generator.yml.
func (p *Project) RequireConfig(wd string) error {
	if p.HasConfig {
		return nil
	}
	return fmt.Errorf("%s does not exist; run `esb init` in %s first", Rel(wd, p.ConfigPath), Rel(wd, p.Dir))
}

// SaveConfig writes the project's configuration back to generator.yml.
func (p *Project) SaveConfig() error {
	if err := p.Config.Validate(ConfigFile); err != nil {
		return err
	}
	if err := WriteConfig(p.ConfigPath, p.Config); err != nil {
		return err
	}
	p.HasConfig = true
	return nil
}

// ErrNoProject is returned by Open when a directory holds neither
// generator.yml nor template.yaml.
var ErrNoProject = errors.New("not an esb project")

// Open loads the project in dir (which must hold generator.yml or template.yaml).
func Open(dir string, opts Options) (*Project, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(opts.Dir, dir)
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open project %s: %w", dir, err)
	}
	tpl, ok := templateOf(dir)
	if !ok && !fileExists(filepath.Join(dir, ConfigFile)) {
		return nil, fmt.Errorf("%s has neither %s nor %s: %w", dir, ConfigFile, DefaultTemplate, ErrNoProject)
	}
	return loadAt(opts, tpl, "project "+dir, dir)
}
