package sam

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestErrorGolden compiles every testdata/errors/*.yaml and compares the
// one-line error with the .err file beside it.
func TestErrorGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.yaml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("want at least 10 error cases, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := Compile(Options{TemplatePath: f})
			if err == nil {
				t.Fatal("compiled without an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %q is not a *sam.Error", err)
			}
			got := err.Error() + "\n"
			if strings.Count(got, "\n") != 1 {
				t.Fatalf("error is not one line: %q", got)
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error changed\n got: %s want: %s", got, want)
			}
		})
	}
}
