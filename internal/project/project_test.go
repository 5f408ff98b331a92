package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestTemplateDiscoveryOrder(t *testing.T) {
	root := t.TempDir()
	xdg := filepath.Join(root, "xdg")
	cwd := filepath.Join(root, "work", "sub")
	write(t, filepath.Join(cwd, "e2e", "fixtures", "template.yaml"), "fixture")
	vars := map[string]string{"XDG_CONFIG_HOME": xdg}
	find := func() (string, string) {
		t.Helper()
		p, src, _, err := FindTemplate(Options{Dir: cwd, Getenv: env(vars)})
		if err != nil {
			t.Fatal(err)
		}
		return p, src
	}
	// 5. e2e/fixtures/template.yaml
	if p, src := find(); p != filepath.Join(cwd, "e2e", "fixtures", "template.yaml") || src != FixtureTemplate {
		t.Fatalf("fixture: %s (%s)", p, src)
	}
	// 4. the current project of the state file
	cur := filepath.Join(root, "current")
	write(t, filepath.Join(cur, "template.yaml"), "current")
	if err := WriteState(filepath.Join(xdg, "esb"), State{CurrentProject: cur}); err != nil {
		t.Fatal(err)
	}
	if p, src := find(); p != filepath.Join(cur, "template.yaml") || !strings.HasPrefix(src, "current project") {
		t.Fatalf("current project: %s (%s)", p, src)
	}
	// 3. the project root: nearest generator.yml upwards, with its sam_template
	write(t, filepath.Join(root, "work", "generator.yml"), "app: {tag: latest}\npaths: {sam_template: infra/sam.yaml, output_dir: .esb/}\n")
	write(t, filepath.Join(root, "work", "infra", "sam.yaml"), "root")
	if p, src := find(); p != filepath.Join(root, "work", "infra", "sam.yaml") || !strings.HasPrefix(src, "project root") {
		t.Fatalf("project root: %s (%s)", p, src)
	}
	// 2. ./template.yaml
	write(t, filepath.Join(cwd, "template.yaml"), "here")
	if p, src := find(); p != filepath.Join(cwd, "template.yaml") || src != "./template.yaml" {
		t.Fatalf("./template.yaml: %s (%s)", p, src)
	}
	// 1. $ESB_TEMPLATE, then --template above all
	vars["ESB_TEMPLATE"] = filepath.Join(cur, "template.yaml")
	if p, src := find(); p != filepath.Join(cur, "template.yaml") || src != EnvTemplate {
		t.Fatalf("ESB_TEMPLATE: %s (%s)", p, src)
	}
	p, src, _, err := FindTemplate(Options{Dir: cwd, Getenv: env(vars), Template: "e2e/fixtures"})
	if err != nil || p != filepath.Join(cwd, "e2e", "fixtures", "template.yaml") || src != "--template" {
		t.Fatalf("--template dir: %s (%s) %v", p, src, err)
	}
	if _, _, _, err := FindTemplate(Options{Dir: cwd, Getenv: env(vars), Template: "missing.yaml"}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing --template: %v", err)
	}
	if _, _, _, err := FindTemplate(Options{Dir: t.TempDir(), Getenv: env(map[string]string{"XDG_CONFIG_HOME": t.TempDir()})}); err == nil || !strings.Contains(err.Error(), "no template.yaml found") {
		t.Fatalf("nothing: %v", err)
	}
}

func TestLoadAppliesDefaultsEnvironmentAndOverrides(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "template.yaml"), "Resources: {}")
	vars := map[string]string{"XDG_CONFIG_HOME": t.TempDir()}
	p, err := Load(Options{Dir: dir, Getenv: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasConfig || p.Config.App.Tag != "latest" || p.OutputDir != filepath.Join(dir, ".esb") || p.Env != "default" || p.Mode != "docker" ||
		p.Region != "us-east-1" || p.Name != SafeName(filepath.Base(dir)) || p.FunctionsPath() != filepath.Join(dir, ".esb", "config", "functions.yml") {
		t.Fatalf("defaults: %+v", p)
	}
	write(t, filepath.Join(dir, "generator.yml"), `# top comment
app:
  name: My Shop
  tag: v3
  region: eu-west-1
paths:
  sam_template: template.yaml
  output_dir: out
  routing_yml: gateway/routing.yml
environments:
  local: docker
  edge: {mode: containerd}
current_environment: edge
scaling:
  default_max_capacity: 7
`)
	p, err = Load(Options{Dir: dir, Getenv: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasConfig || p.Name != "my-shop" || p.Env != "edge" || p.Mode != "containerd" || p.ModeSource != "environment edge" || p.Region != "eu-west-1" ||
		p.DefaultMaxCapacity != 7 || p.RoutingPath() != filepath.Join(dir, "gateway", "routing.yml") || p.Config.Environments["local"].Mode != "docker" {
		t.Fatalf("configured: %+v", p)
	}
	vars["ESB_ENV"] = "local"
	vars["ESB_MODE"] = "firecracker"
	vars["ESB_DEFAULT_MAX_CAPACITY"] = "3"
	vars["CONTAINER_REGISTRY"] = "reg:5000"
	p, err = Load(Options{Dir: dir, Getenv: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Env != "local" || p.Mode != "firecracker" || p.ModeSource != EnvMode || p.DefaultMaxCapacity != 3 || p.Registry != "reg:5000" {
		t.Fatalf("environment variables: %+v", p)
	}
	if _, err := Load(Options{Dir: dir, Getenv: env(vars), Env: "nope"}); err == nil || !strings.Contains(err.Error(), `environment "nope" is not defined in generator.yml (defined: edge, local)`) {
		t.Fatalf("unknown env: %v", err)
	}
	vars["ESB_MODE"] = "vm"
	if _, err := Load(Options{Dir: dir, Getenv: env(vars)}); err == nil || !strings.Contains(err.Error(), "ESB_MODE") {
		t.Fatalf("bad ESB_MODE: %v", err)
	}
}

func TestConfigErrorsNameFileAndLine(t *testing.T) {
	cases := map[string]string{
		"app:\n  tag: v1\n  colour: blue\n":                          "generator.yml:3: field colour not found",
		"app: [\n":                                                   "generator.yml:1: ",
		"environments:\n  x: {mode: kvm}\n":                          `generator.yml: environments.x.mode "kvm" must be one of docker, containerd, firecracker`,
		"environments:\n  x: docker\ncurrent_environment: y\n":       `generator.yml: current_environment "y" is not one of the environments (x)`,
		"app:\n  tag: \"a b\"\n":                                     `generator.yml: app.tag "a b" is not a valid image tag`,
		"scaling:\n  default_max_capacity: lots\n":                   "generator.yml:2: cannot unmarshal str `lots` into int",
		"parameters:\n  A: 1\n  B: true\n  C: x\nenvironments: {}\n": "",
	}
	for content, want := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "generator.yml")
		write(t, path, content)
		cfg, ok, err := ReadConfig(path, "generator.yml")
		if want == "" {
			if err != nil || !ok || cfg.Parameters["A"] != "1" || cfg.Parameters["B"] != "true" || cfg.Environments["default"].Mode != "docker" {
				t.Errorf("%q: %+v %v", content, cfg, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line starting %q", content, err, want)
		}
	}
}

func TestWriteConfigKeepsCommentsAndOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "generator.yml")
	write(t, path, "# project notes\napp:\n  tag: v1 # release tag\nparameters:\n  Stage: dev # stage\n  Old: x\npaths:\n  sam_template: template.yaml\n  output_dir: .esb/\n")
	cfg, _, err := ReadConfig(path, "generator.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.App.Tag = "v2"
	cfg.Parameters = map[string]string{"Stage": "prod"}
	cfg.Environments["edge"] = Environment{Mode: ModeContainerd}
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	got := string(data)
	for _, want := range []string{"# project notes", "tag: v2 # release tag", "Stage: prod # stage", "edge:\n    mode: containerd"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "Old") {
		t.Errorf("removed parameter kept:\n%s", got)
	}
	if strings.Index(got, "parameters:") > strings.Index(got, "paths:") {
		t.Errorf("key order changed:\n%s", got)
	}
	back, _, err := ReadConfig(path, "generator.yml")
	if err != nil || back.App.Tag != "v2" || back.Environments["edge"].Mode != ModeContainerd {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestStateFile(t *testing.T) {
	if d, _ := StateDir(env(map[string]string{"XDG_CONFIG_HOME": "/x"})); d != "/x/esb" {
		t.Errorf("XDG: %s", d)
	}
	if d, _ := StateDir(env(map[string]string{"HOME": "/home/u"})); d != "/home/u/.esb" {
		t.Errorf("HOME: %s", d)
	}
	dir := t.TempDir()
	st, err := ReadState(dir)
	if err != nil || st.CurrentProject != "" {
		t.Fatalf("empty: %+v %v", st, err)
	}
	for _, p := range []string{"/a", "/b", "/a"} {
		st.Use(p)
	}
	if err := WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	st, err = ReadState(dir)
	if err != nil || st.CurrentProject != "/a" || strings.Join(st.Projects, ",") != "/a,/b" {
		t.Fatalf("state %+v %v", st, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, StateFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	write(t, filepath.Join(dir, StateFile), "current_project: [\n")
	if _, err := ReadState(dir); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("damaged: %v", err)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{"My Shop": "my-shop", "hello_go": "hello-go", "--": "esb", "A1": "a1"} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}
