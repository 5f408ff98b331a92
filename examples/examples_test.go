// Package examples_test runs the Python unit tests of the example projects
// with Debian's python3 and boto3 (the Go examples test themselves with go test).
package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestIntegrationExamplePythonHandlers(t *testing.T) {
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("set ESB_E2E=1 to run the examples' Python tests with /usr/bin/python3")
	}
	for _, ex := range []string{"hello-python", "full-stack"} {
		t.Run(ex, func(t *testing.T) {
			cmd := exec.Command("/usr/bin/python3", "-B", "-m", "unittest", "discover", "-s", "tests")
			cmd.Dir = filepath.Join(".", ex)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python unit tests of %s failed: %v\n%s", ex, err, out)
			}
		})
	}
}
