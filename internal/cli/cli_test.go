package cli

import (
	"bytes"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// runESB runs the esb command line in-process and returns stdout, stderr and the error.
func runESB(t *testing.T, stdin io.Reader, args ...string) (string, string, error) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	g := &Globals{Stdin: stdin, Stdout: &out, Stderr: &errb}
	root := NewRootCommand(g)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// isolate gives the test its own state directory and clears esb's environment.
func isolate(t *testing.T) string {
	t.Helper()
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	for _, v := range []string{"ESB_TEMPLATE", "ESB_ENV", "ESB_MODE", "ESB_REGION", "ESB_DEFAULT_MAX_CAPACITY", "CONTAINER_REGISTRY", "ACCESSIBLE"} {
		t.Setenv(v, "")
	}
	return xdg
}

// copyProject copies a project directory (without its .esb output) to
// <tmp>/<name> and returns the copy's path.
func copyProject(t *testing.T, src, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (d.Name() == ".esb" || d.Name() == "__pycache__") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// readTree returns every file under dir by its slash-separated relative path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// compareGolden compares got (relative path → content) with the files under
// dir, or rewrites dir with -update.
func compareGolden(t *testing.T, dir string, got map[string]string) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for rel, content := range got {
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := readTree(t, dir)
	if len(want) == 0 {
		t.Fatalf("no golden files in %s (run go test -update)", dir)
	}
	for rel, w := range want {
		g, ok := got[rel]
		if !ok {
			t.Errorf("%s: missing (golden has it)", rel)
			continue
		}
		if g != w {
			t.Errorf("%s differs from golden %s:\n--- got ---\n%s\n--- want ---\n%s", rel, filepath.Join(dir, rel), g, w)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s: produced but not in the golden files (run go test -update)", rel)
		}
	}
}

// testBinDir holds binaries the tests build; TestMain creates and removes it.
var testBinDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "esb-cli-test-")
	if err != nil {
		panic(err)
	}
	testBinDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
