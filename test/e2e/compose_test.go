package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EComposeFiles checks the compose files with Debian 12's docker-compose:
// both combinations the README documents parse, and each defines the services
// the control and compute planes need, built from the repository's Dockerfile.
func TestE2EComposeFiles(t *testing.T) {
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("ESB_E2E=1 runs the end-to-end tests")
	}
	dc, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is not installed (scripts/host-setup.sh installs it)")
	}
	env := append(os.Environ(), "X_API_KEY=k", "JWT_SECRET_KEY=0123456789abcdef0123456789abcdef",
		"AUTH_PASS=p", "ESB_ACCESS_KEY_ID=a", "ESB_SECRET_ACCESS_KEY=b")
	for _, c := range []struct {
		files []string
		want  []string
	}{
		{[]string{"docker-compose.yml", "docker-compose.node.yml"},
			[]string{"gateway:", "database:", "s3-storage:", "victorialogs:", "agent:", "ESB_MODE: docker"}},
		{[]string{"docker-compose.yml", "docker-compose.node.yml", "docker-compose.containerd.yml"},
			[]string{"gateway:", "agent:", "ESB_MODE: containerd"}},
	} {
		args := []string{"-p", "esb"}
		for _, f := range c.files {
			args = append(args, "-f", filepath.Join(repoRoot, f))
		}
		cmd := exec.Command(dc, append(args, "config")...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("docker-compose %s config: %v\n%s", strings.Join(c.files, " + "), err, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: the merged configuration lacks %q", strings.Join(c.files, " + "), w)
			}
		}
	}
	// A missing secret is refused with its name, not started with an empty one.
	cmd := exec.Command(dc, "-p", "esb", "-f", filepath.Join(repoRoot, "docker-compose.yml"), "config")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "X_API_KEY") {
		t.Errorf("docker-compose config without secrets: %v\n%s", err, out)
	}
}
