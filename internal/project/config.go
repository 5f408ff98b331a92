// Package project finds an esb project (its template.yaml and generator.yml),
// reads and writes generator.yml, selects the environment and mode, and keeps
// the per-user state file that remembers the current project.
package project

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// ConfigFile is the name of the project configuration file.
const ConfigFile = "generator.yml"

// Modes an environment can run in.
const (
	ModeDocker      = "docker"
	ModeContainerd  = "containerd"
	ModeFirecracker = "firecracker"
)

// Modes lists the valid modes.
var Modes = []string{ModeDocker, ModeContainerd, ModeFirecracker}

// ValidMode reports whether m is a mode esb knows.
func ValidMode(m string) bool {
	for _, v := range Modes {
		if v == m {
			return true
		}
	}
	return false
}

// Defaults of generator.yml.
const (
	DefaultTag         = "latest"
	DefaultOutputDir   = ".esb/"
	DefaultTemplate    = "template.yaml"
	DefaultEnvironment = "default"
)

// Config is the content of generator.yml.
type Config struct {
	App   App   `yaml:"app"`
	Paths Paths `yaml:"paths"`
	// Parameters override the template's parameter defaults.
	Parameters map[string]string `yaml:"parameters,omitempty"`
	// Environments maps an environment name to how it runs.
	Environments map[string]Environment `yaml:"environments,omitempty"`
	// CurrentEnvironment is the environment used when --env is not given.
	CurrentEnvironment string `yaml:"current_environment,omitempty"`
	// Runtimes maps a Lambda runtime to the base image of its functions
	// (default: AWS's public Lambda images; `esb base` records offline ones).
	Runtimes map[string]string `yaml:"runtimes,omitempty"`
	// Scaling holds defaults of the worker pools.
	Scaling Scaling `yaml:"scaling,omitempty"`
}

// App is generator.yml's app section.
type App struct {
	// Name is the project name (default: the project directory's name).
	Name string `yaml:"name,omitempty"`
	// Tag is the tag of the images esb builds.
	Tag string `yaml:"tag"`
	// Region is the AWS region functions see (default us-east-1).
	Region string `yaml:"region,omitempty"`
}

// Paths is generator.yml's paths section; paths are relative to generator.yml.
type Paths struct {
	SamTemplate string `yaml:"sam_template"`
	OutputDir   string `yaml:"output_dir"`
	// FunctionsYml and RoutingYml optionally move those files out of <output_dir>/config/.
	FunctionsYml string `yaml:"functions_yml,omitempty"`
	RoutingYml   string `yaml:"routing_yml,omitempty"`
}

// Environment is one entry of generator.yml's environments.
type Environment struct {
	// Mode is docker, containerd or firecracker.
	Mode string `yaml:"mode"`
}

// UnmarshalYAML accepts both `name: docker` and `name: {mode: docker}`.
func (e *Environment) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		e.Mode = n.Value
		return nil
	}
	type plain Environment
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*e = Environment(p)
	return nil
}

// Scaling is generator.yml's scaling section.
type Scaling struct {
	// DefaultMaxCapacity is a function's worker limit without ReservedConcurrentExecutions.
	DefaultMaxCapacity int `yaml:"default_max_capacity,omitempty"`
}

// DefaultConfig is the configuration of a project without generator.yml.
func DefaultConfig() Config {
	c := Config{}
	c.ApplyDefaults()
	return c
}

// ApplyDefaults fills every empty setting with its default.
func (c *Config) ApplyDefaults() {
	if c.App.Tag == "" {
		c.App.Tag = DefaultTag
	}
	if c.Paths.SamTemplate == "" {
		c.Paths.SamTemplate = DefaultTemplate
	}
	if c.Paths.OutputDir == "" {
		c.Paths.OutputDir = DefaultOutputDir
	}
	if len(c.Environments) == 0 {
		c.Environments = map[string]Environment{DefaultEnvironment: {Mode: ModeDocker}}
	}
	if c.CurrentEnvironment == "" {
		if _, ok := c.Environments[DefaultEnvironment]; ok {
			c.CurrentEnvironment = DefaultEnvironment
		} else {
			c.CurrentEnvironment = c.EnvironmentNames()[0]
		}
	}
}

// EnvironmentNames returns the environment names, sorted.
func (c *Config) EnvironmentNames() []string {
	names := make([]string, 0, len(c.Environments))
	for n := range c.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var envName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidEnvironmentName reports whether n can name an environment.
func ValidEnvironmentName(n string) bool { return envName.MatchString(n) && len(n) <= 63 }

// Validate checks the configuration; path names the file in messages.
func (c *Config) Validate(path string) error {
	if strings.ContainsAny(c.App.Tag, " :/@") {
		return fmt.Errorf("%s: app.tag %q is not a valid image tag (letters, digits, ., _ and -)", path, c.App.Tag)
	}
	for _, n := range c.EnvironmentNames() {
		if !ValidEnvironmentName(n) {
			return fmt.Errorf("%s: environment name %q must be letters, digits, ., _ and - (starting with a letter or digit)", path, n)
		}
		if m := c.Environments[n].Mode; !ValidMode(m) {
			return fmt.Errorf("%s: environments.%s.mode %q must be one of %s", path, n, m, strings.Join(Modes, ", "))
		}
	}
	if _, ok := c.Environments[c.CurrentEnvironment]; !ok {
		return fmt.Errorf("%s: current_environment %q is not one of the environments (%s); fix it or run `esb env use <name>`", path, c.CurrentEnvironment, strings.Join(c.EnvironmentNames(), ", "))
	}
	if c.Scaling.DefaultMaxCapacity < 0 {
		return fmt.Errorf("%s: scaling.default_max_capacity must not be negative", path)
	}
	return nil
}

var (
	decodeLine = regexp.MustCompile(`line (\d+): (.*)`)
	typeSuffix = regexp.MustCompile(` in type project\.\w+`)
)

// ReadConfig reads generator.yml. It returns ok=false (and the defaults) when
// the file does not exist. display names the file in messages.
func ReadConfig(path, display string) (cfg Config, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultConfig(), false, nil
	}
	if err != nil {
		return Config{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, false, configError(display, err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(display); err != nil {
		return Config{}, false, err
	}
	return cfg, true, nil
}

// configError makes a yaml error one line: "generator.yml:5: <problem>".
func configError(display string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	first, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	if m := decodeLine.FindStringSubmatch(first); m != nil {
		line, _ := strconv.Atoi(m[1])
		problem := m[2]
		problem = typeSuffix.ReplaceAllString(problem, "")
		problem = strings.ReplaceAll(problem, "!!", "")
		return fmt.Errorf("%s:%d: %s", display, line, problem)
	}
	return fmt.Errorf("%s: %s", display, first)
}

// WriteConfig writes generator.yml atomically. When the file exists, keys and
// comments the user wrote are kept; only changed values are replaced.
func WriteConfig(path string, cfg Config) error {
	var fresh yaml.Node
	if err := fresh.Encode(cfg); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	root := &fresh
	if data, err := os.ReadFile(path); err == nil {
		var old yaml.Node
		if yaml.Unmarshal(data, &old) == nil && len(old.Content) == 1 && old.Content[0].Kind == yaml.MappingNode {
			mergeNode(old.Content[0], &fresh)
			root = old.Content[0]
		}
	} else {
		root.HeadComment = "esb project configuration (see docs/cli.md). Written by `esb init`; edit freely."
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return manifest.WriteFileAtomic(path, buf.Bytes(), 0o644)
}

// mergeNode makes dst hold src's values while keeping dst's comments and key
// order: mappings merge key by key (keys missing from src are removed),
// everything else is replaced.
func mergeNode(dst, src *yaml.Node) {
	if dst.Kind != yaml.MappingNode || src.Kind != yaml.MappingNode {
		hc, lc, fc := dst.HeadComment, dst.LineComment, dst.FootComment
		*dst = *src
		dst.HeadComment, dst.LineComment, dst.FootComment = hc, lc, fc
		return
	}
	var out []*yaml.Node
	used := map[string]bool{}
	for i := 0; i+1 < len(dst.Content); i += 2 {
		k := dst.Content[i]
		for j := 0; j+1 < len(src.Content); j += 2 {
			if src.Content[j].Value == k.Value {
				mergeNode(dst.Content[i+1], src.Content[j+1])
				out = append(out, k, dst.Content[i+1])
				used[k.Value] = true
				break
			}
		}
	}
	for j := 0; j+1 < len(src.Content); j += 2 {
		if !used[src.Content[j].Value] {
			out = append(out, src.Content[j], src.Content[j+1])
		}
	}
	dst.Content = out
}
