package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBaseBuildRejectsUnsupportedRuntime(t *testing.T) {
	isolate(t)
	t.Chdir(t.TempDir())
	_, _, err := runESB(t, nil, "base", "build", "java8")
	if err == nil || !strings.HasPrefix(err.Error(), "esb base build supports python3.9, python3.10") || !strings.HasSuffix(err.Error(), `not "java8"`) {
		t.Errorf("unsupported runtime: %v", err)
	}
	if _, _, err := runESB(t, nil, "base", "build"); err == nil {
		t.Error("no runtime accepted")
	}
}

func TestFindRIE(t *testing.T) {
	root := filepath.Join(packageDir, "..", "..")
	if got := findRIE("/opt/esb-rie", "", ""); got.Binary != "/opt/esb-rie" || got.SourceDir != "" {
		t.Errorf("ESB_RIE: %+v", got)
	}
	got := findRIE("", filepath.Join(root, "examples", "hello-go"), t.TempDir())
	if abs, _ := filepath.Abs(root); got.SourceDir != abs && got.SourceDir != root {
		t.Errorf("from the examples: %+v, want source %s", got, root)
	}
	// Outside the tree, with no esb-rie next to the (test) binary: nothing.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module other\n"), 0o644)
	if got := findRIE("", dir, dir); got.SourceDir != "" {
		t.Errorf("outside the tree: %+v", got)
	}
}
