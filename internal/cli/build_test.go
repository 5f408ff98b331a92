package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// TestBuildDryRunGolden runs `esb build --dry-run -v` on the product
// description's sample, on every example and on the full-stack example with
// generator.yml overrides, and compares what it prints and writes with
// testdata/golden/<case>.
func TestBuildDryRunGolden(t *testing.T) {
	cases := []struct {
		name, src, generator string
	}{
		{name: "sample", src: "testdata/build/sample"},
		{name: "hello-python", src: "../../examples/hello-python"},
		{name: "hello-go", src: "../../examples/hello-go"},
		{name: "full-stack", src: "../../examples/full-stack"},
		{name: "full-stack-prod", src: "../../examples/full-stack", generator: `app:
  name: shop
  tag: v2
paths:
  sam_template: template.yaml
  output_dir: build/out/
parameters:
  Stage: prod
runtimes:
  python3.12: esb-base-python3.12:local
scaling:
  default_max_capacity: 4
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			dir := copyProject(t, tc.src, tc.name)
			outDir := ".esb"
			if tc.generator != "" {
				if err := os.WriteFile(filepath.Join(dir, "generator.yml"), []byte(tc.generator), 0o644); err != nil {
					t.Fatal(err)
				}
				outDir = "build/out"
			}
			t.Chdir(dir)
			stdout, stderr, err := runESB(t, nil, "build", "--dry-run", "-v")
			if err != nil {
				t.Fatalf("esb build --dry-run: %v\n%s", err, stderr)
			}
			got := map[string]string{"stdout.txt": stdout, "stderr.txt": stderr}
			for rel, content := range readTree(t, filepath.Join(dir, outDir)) {
				// A .gitignore in the golden tree would hide it from git.
				got["output/"+strings.ReplaceAll(rel, ".gitignore", "dot-gitignore")] = content
			}
			compareGolden(t, filepath.Join(packageDir, "testdata", "golden", tc.name), got)

			// The manifests load back with the strict reader the daemons use.
			var fns manifest.Functions
			var routing manifest.Routing
			var res manifest.Resources
			for p, v := range map[string]any{manifest.FunctionsFile: &fns, manifest.RoutingFile: &routing, manifest.ResourcesFile: &res} {
				if err := manifest.Load(filepath.Join(dir, outDir, "config", p), v); err != nil {
					t.Errorf("load %s: %v", p, err)
				}
			}
		})
	}
}

// packageDir is this package's directory, captured before tests change directory.
var packageDir = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return wd
}()

func TestBuildWithoutDaemonWritesFilesThenFailsInOneLine(t *testing.T) {
	isolate(t)
	dir := copyProject(t, "testdata/build/sample", "sample")
	t.Chdir(dir)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("ESB_MODE", "docker")
	_, _, err := runESB(t, nil, "build")
	if code := ExitCode(err); code != 1 || !strings.HasPrefix(err.Error(), "docker is not running at unix://"+sock) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("exit %d, err %v; want 1 and one line saying docker is not running", code, err)
	}
	t.Setenv("ESB_MODE", "containerd")
	t.Setenv("CONTAINERD_ADDRESS", sock)
	_, _, err = runESB(t, nil, "build")
	if code := ExitCode(err); code != 1 || !strings.HasPrefix(err.Error(), "containerd is not running at "+sock) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("exit %d, err %v; want 1 and one line saying containerd is not running", code, err)
	}
	for _, f := range []string{".esb/config/functions.yml", ".esb/config/routing.yml", ".esb/config/resources.yml", ".esb/functions/lambda-my-func/Dockerfile"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestBuildErrorIsOneLineAndExit1(t *testing.T) {
	isolate(t)
	dir := copyProject(t, "testdata/build/sample", "sample")
	tpl := filepath.Join(dir, "template.yaml")
	data, _ := os.ReadFile(tpl)
	os.WriteFile(tpl, []byte(strings.Replace(string(data), "Runtime: python3.12", "Runtime: java8", 1)), 0o644)
	t.Chdir(dir)
	stdout, _, err := runESB(t, nil, "build", "--dry-run")
	if ExitCode(err) != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing printed", ExitCode(err), stdout)
	}
	want := `template.yaml:15: resource MyFunction: Runtime "java8" is not supported by esb (supported: `
	if msg := err.Error(); !strings.HasPrefix(msg, want) || strings.Contains(msg, "\n") {
		t.Fatalf("error %q, want one line starting %q", msg, want)
	}
	if _, err := os.Stat(".esb"); err == nil {
		t.Error("a failed compile wrote .esb")
	}
}

func TestBuildRemovesFilesOfRemovedFunctions(t *testing.T) {
	isolate(t)
	dir := copyProject(t, "testdata/build/sample", "sample")
	t.Chdir(dir)
	if _, _, err := runESB(t, nil, "build", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	// A user file in a function directory esb did not write is left alone.
	os.MkdirAll(".esb/functions/mine", 0o755)
	os.WriteFile(".esb/functions/mine/Dockerfile", []byte("FROM scratch\n"), 0o644)
	data, _ := os.ReadFile("template.yaml")
	os.WriteFile("template.yaml", []byte(strings.Replace(string(data), "FunctionName: lambda-my-func", "FunctionName: renamed", 1)), 0o644)
	if _, _, err := runESB(t, nil, "build", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(".esb/functions/lambda-my-func"); !os.IsNotExist(err) {
		t.Errorf("stale function directory kept: %v", err)
	}
	for _, keep := range []string{".esb/functions/renamed/Dockerfile", ".esb/functions/mine/Dockerfile"} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
}

func TestBuildWarningsGoToStderr(t *testing.T) {
	isolate(t)
	dir := copyProject(t, "testdata/build/sample", "sample")
	t.Chdir(dir)
	data, _ := os.ReadFile("template.yaml")
	os.WriteFile("template.yaml", append(data, []byte("  Queue:\n    Type: AWS::SQS::Queue\n")...), 0o644)
	stdout, stderr, err := runESB(t, nil, "build", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "warning: template.yaml:") || !strings.Contains(stderr, "AWS::SQS::Queue is not supported by esb; ignored") || strings.Contains(stdout, "warning") {
		t.Fatalf("stdout %q\nstderr %q", stdout, stderr)
	}
}
