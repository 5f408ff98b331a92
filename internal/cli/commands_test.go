package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/project"
)

func TestHelpListsEveryCommand(t *testing.T) {
	isolate(t)
	stdout, _, err := runESB(t, nil, "--help")
	if err != nil {
		t.Fatal(err)
	}
	// The commands of the product description, then every command in the tree.
	want := []string{"init", "build", "up", "down", "logs", "env", "project", "prune", "completion", "node", "version"}
	root := NewRootCommand(&Globals{})
	for _, c := range root.Commands() {
		if !c.Hidden {
			want = append(want, c.Name())
		}
	}
	for _, name := range want {
		found := false
		for _, line := range strings.Split(stdout, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == name {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("esb --help does not list %q:\n%s", name, stdout)
		}
	}
	for _, sub := range []string{"add", "list", "use", "remove"} {
		out, _, err := runESB(t, nil, "env", "--help")
		if err != nil || !strings.Contains(out, "  "+sub+" ") {
			t.Errorf("esb env --help does not list %s: %v\n%s", sub, err, out)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	isolate(t)
	for shell, want := range map[string]string{"bash": "__start_esb", "zsh": "#compdef esb", "fish": "complete -c esb"} {
		out, _, err := runESB(t, nil, "completion", shell)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("completion %s: %v, output lacks %q", shell, err, want)
		}
	}
	if _, _, err := runESB(t, nil, "completion", "tcsh"); err == nil {
		t.Error("completion tcsh: no error")
	}
}

func TestIntegrationCompletionBashLoads(t *testing.T) {
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("set ESB_E2E=1 to build esb and load its completion in bash")
	}
	bin := buildESB(t)
	cmd := exec.Command("bash", "-c", `source <("$ESB" completion bash) && complete -p esb`)
	cmd.Env = append(os.Environ(), "ESB="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "complete") || !strings.Contains(string(out), "esb") {
		t.Fatalf("bash could not load the completion: %v\n%s", err, out)
	}
}

// esbBinary builds the esb binary once per test process.
var esbBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(testBinDir, "esb")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/edgeserverlessbox/esb/cmd/esb")
	cmd.Dir = packageDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build esb: %v\n%s", err, out)
	}
	return bin, nil
})

// buildESB returns the esb binary, built on first use.
func buildESB(t *testing.T) string {
	t.Helper()
	bin, err := esbBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestE2EBuildDryRunBinaryExitCodes(t *testing.T) {
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("set ESB_E2E=1 to run the esb binary")
	}
	bin := buildESB(t)
	isolate(t)
	dir := copyProject(t, "../../examples/full-stack", "full-stack")
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run("build", "--dry-run"); code != 0 || !strings.Contains(out, "full-stack-items") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("ESB_MODE", "docker")
	if out, code := run("build"); code != 1 || !strings.Contains(out, "\nesb: docker is not running at unix:///nonexistent/docker.sock") {
		t.Fatalf("build without docker: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "template.yaml"), []byte("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/items\n      Handler: app.handler\n      Runtime: python3.12\n      Environment: {Variables: {T: !Ref Nope}}\n"), 0o644)
	out, code := run("build", "--dry-run")
	if code != 1 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.HasPrefix(out, "esb: template.yaml:8: resource Fn: unknown !Ref \"Nope\"") {
		t.Fatalf("broken template: exit %d, output %q", code, out)
	}
}

func TestInitNonInteractive(t *testing.T) {
	xdg := isolate(t)
	dir := copyProject(t, "../../examples/full-stack", "full-stack")
	t.Chdir(dir)
	stdout, _, err := runESB(t, nil, "init", "--yes", "--param", "Stage=prod", "--tag", "v1", "--output-dir", "out/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "wrote generator.yml (tag v1, output out/, environment default: docker, 1 parameter)") {
		t.Errorf("stdout %q", stdout)
	}
	cfg, ok, err := project.ReadConfig("generator.yml", "generator.yml")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if cfg.Parameters["Stage"] != "prod" || cfg.App.Tag != "v1" || cfg.Paths.OutputDir != "out/" || cfg.Paths.SamTemplate != "template.yaml" ||
		cfg.CurrentEnvironment != "default" || cfg.Environments["default"].Mode != "docker" {
		t.Errorf("config %+v", cfg)
	}
	st, err := project.ReadState(filepath.Join(xdg, "esb"))
	if err != nil || st.CurrentProject != dir {
		t.Errorf("state %+v (%v), want current project %s", st, err, dir)
	}

	// A second init keeps the user's comments and unknown-to-init settings.
	data, _ := os.ReadFile("generator.yml")
	os.WriteFile("generator.yml", []byte("# my notes\n"+string(data)+"runtimes:\n  python3.12: my-python:1 # offline base\n"), 0o644)
	if _, _, err := runESB(t, nil, "init", "--yes", "--tag", "v2"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile("generator.yml")
	for _, want := range []string{"# my notes", "tag: v2", "Stage: prod", "my-python:1 # offline base"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("generator.yml lost %q:\n%s", want, data)
		}
	}

	// Values are checked against the template.
	if _, _, err := runESB(t, nil, "init", "--yes", "--param", "Stage=qa"); err == nil || !strings.Contains(err.Error(), "AllowedValues") {
		t.Errorf("Stage=qa: %v", err)
	}
	if _, _, err := runESB(t, nil, "init", "--yes", "--param", "Nope=1"); err == nil || !strings.Contains(err.Error(), "has no parameter Nope (it has: Stage)") {
		t.Errorf("Nope=1: %v", err)
	}
}

func TestInitRequiresValuesWithoutDefault(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "template.yaml"), []byte("Parameters:\n  Secret: {Type: String}\nResources:\n  B: {Type: AWS::S3::Bucket}\n"), 0o644)
	t.Chdir(dir)
	_, _, err := runESB(t, nil, "init")
	if err == nil || err.Error() != "template.yaml:2: parameter Secret has no Default; pass --param Secret=VALUE" {
		t.Fatalf("err %v", err)
	}
	if _, _, err := runESB(t, nil, "init", "--param", "Secret=s3cr3t"); err != nil {
		t.Fatal(err)
	}
}

// lineReader hands out one line per Read, as a terminal does, so each of the
// form's prompts reads exactly its own answer.
type lineReader struct{ lines []string }

func (r *lineReader) Read(p []byte) (int, error) {
	if len(r.lines) == 0 {
		return 0, os.ErrClosed
	}
	n := copy(p, r.lines[0]+"\n")
	r.lines = r.lines[1:]
	return n, nil
}

func TestInitInteractiveForm(t *testing.T) {
	isolate(t)
	dir := copyProject(t, "../../examples/full-stack", "full-stack")
	t.Chdir(dir)
	var out strings.Builder
	g := &Globals{Stdin: &lineReader{lines: []string{"2", "edge", ""}}, Stdout: &out, Stderr: &out}
	// Stage: option 2 (prod); tag: edge; output dir: keep the default.
	if err := runInit(t.Context(), g, initOptions{interactive: true, accessible: true}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	cfg, _, err := project.ReadConfig("generator.yml", "generator.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Parameters["Stage"] != "prod" || cfg.App.Tag != "edge" || cfg.Paths.OutputDir != ".esb/" {
		t.Fatalf("config %+v\nform output:\n%s", cfg, out.String())
	}
	if !strings.Contains(out.String(), "Parameter Stage") || !strings.Contains(out.String(), "Image tag") {
		t.Errorf("form did not ask for the parameter and the tag:\n%s", out.String())
	}
}

func TestEnvCommands(t *testing.T) {
	isolate(t)
	dir := copyProject(t, "testdata/build/sample", "sample")
	t.Chdir(dir)
	if _, _, err := runESB(t, nil, "env", "list"); err == nil || !strings.Contains(err.Error(), "run `esb init`") {
		t.Fatalf("env list without generator.yml: %v", err)
	}
	if _, _, err := runESB(t, nil, "init", "--yes"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"env", "add", "edge", "--mode", "containerd"}, want: "added environment edge (mode containerd)"},
		{args: []string{"env", "add", "edge"}, wantErr: "environment edge already exists"},
		{args: []string{"env", "add", "vm", "--mode", "kvm"}, wantErr: `--mode "kvm" is not a mode`},
		{args: []string{"env", "add", "bad name"}, wantErr: "must be letters, digits"},
		{args: []string{"env", "add", "fc", "--mode", "firecracker", "--use"}, want: "current environment: fc"},
		{args: []string{"env", "list"}, want: "  NAME     MODE\n  default  docker\n  edge     containerd\n* fc       firecracker\n"},
		{args: []string{"env", "remove", "fc"}, wantErr: "is the current one"},
		{args: []string{"env", "use", "nope"}, wantErr: "environment nope is not defined"},
		{args: []string{"env", "use", "edge"}, want: "current environment: edge (mode containerd)"},
		{args: []string{"env", "remove", "fc"}, want: "removed environment fc"},
		{args: []string{"env"}, want: "* edge     containerd"},
	}
	for _, s := range steps {
		out, _, err := runESB(t, nil, s.args...)
		switch {
		case s.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Errorf("%v: err %v, want %q", s.args, err, s.wantErr)
			}
		case err != nil:
			t.Errorf("%v: %v", s.args, err)
		case !strings.Contains(out, s.want):
			t.Errorf("%v: output %q, want %q", s.args, out, s.want)
		}
	}
	// The build uses the current environment's mode; --env and ESB_MODE override it.
	out, _, err := runESB(t, nil, "build", "--dry-run")
	if err != nil || !strings.Contains(out, "(environment edge, mode containerd)") {
		t.Errorf("build: %v\n%s", err, out)
	}
	out, _, err = runESB(t, nil, "--env", "default", "build", "--dry-run")
	if err != nil || !strings.Contains(out, "(environment default, mode docker)") {
		t.Errorf("build --env default: %v\n%s", err, out)
	}
	t.Setenv("ESB_MODE", "firecracker")
	out, _, err = runESB(t, nil, "build", "--dry-run")
	if err != nil || !strings.Contains(out, "(environment edge, mode firecracker)") {
		t.Errorf("build with ESB_MODE: %v\n%s", err, out)
	}
	if _, _, err := runESB(t, nil, "--env", "gone", "build", "--dry-run"); err == nil || !strings.Contains(err.Error(), `environment "gone" is not defined`) {
		t.Errorf("--env gone: %v", err)
	}
}

func TestProjectCommand(t *testing.T) {
	xdg := isolate(t)
	a := copyProject(t, "testdata/build/sample", "alpha")
	b := copyProject(t, "../../examples/hello-python", "beta")
	t.Chdir(t.TempDir())
	out, _, err := runESB(t, nil, "project")
	if err != nil || !strings.Contains(out, "no current project") {
		t.Fatalf("%v %q", err, out)
	}
	for _, d := range []string{a, b} {
		if out, _, err := runESB(t, nil, "project", d); err != nil || !strings.Contains(out, "current project: "+d) {
			t.Fatalf("project %s: %v %q", d, err, out)
		}
	}
	out, _, err = runESB(t, nil, "project")
	if err != nil || !strings.Contains(out, "current project: "+b) || !strings.Contains(out, "template:    "+filepath.Join(b, "template.yaml")) ||
		!strings.Contains(out, "projects used before:\n  "+a) {
		t.Fatalf("%v\n%s", err, out)
	}
	// Outside any project, the current project's template is found.
	out, _, err = runESB(t, nil, "build", "--dry-run", "-v")
	if err != nil || !strings.Contains(out, "found by current project "+b) {
		t.Fatalf("build from elsewhere: %v\n%s", err, out)
	}
	if _, _, err := runESB(t, nil, "project", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not an esb project") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(xdg, "esb", "state.yml")); err != nil {
		t.Error(err)
	}
}
