// Package e2e drives the built esb binary end to end: esb up on the examples
// in docker and containerd mode, auth, routes, the Lambda Invoke API through
// the AWS CLI, functions using S3 and DynamoDB through their SDKs, scaling,
// daemon restarts and kills, esb down and esb up --reset.
//
// The tests run with ESB_E2E=1 against the private daemons of
// scripts/test-daemons.sh (ESB_TEST_DOCKER_HOST, ESB_TEST_CONTAINERD_ADDRESS),
// on ports and names of their own, so they never meet a running demo.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	binDir   string // esb and esb-rie, built by TestMain
	repoRoot string
	cacheDir string // the image build cache shared by every test
)

func TestMain(m *testing.M) {
	if os.Getenv("ESB_E2E") != "1" {
		os.Exit(m.Run())
	}
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "../.."))
	tmp, err := os.MkdirTemp("", "esb-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = filepath.Join(tmp, "bin")
	cacheDir = filepath.Join(tmp, "cache")
	for _, b := range []string{"esb", "esb-rie"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(binDir, b), "./cmd/"+b)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b, err, out)
			os.RemoveAll(tmp)
			os.Exit(1)
		}
	}
	// The binaries must be readable by the unprivileged gateway user.
	_ = os.Chmod(tmp, 0o755)
	_ = os.Chmod(binDir, 0o755)
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// harness runs esb in one mode with its own ports, network and namespace.
type harness struct {
	t        *testing.T
	mode     string
	env      []string
	httpsURL string
	httpURL  string
	dynamo   string
	s3       string
	docker   string // DOCKER_HOST
	ctrd     string // containerd socket
	ns       string // containerd namespace
}

func newHarness(t *testing.T, mode string, base int) *harness {
	t.Helper()
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("set ESB_E2E=1 (make test) to run the end-to-end tests")
	}
	h := &harness{t: t, mode: mode, docker: os.Getenv("ESB_TEST_DOCKER_HOST"), ctrd: os.Getenv("ESB_TEST_CONTAINERD_ADDRESS"), ns: "esb-e2e"}
	if h.docker == "" || h.ctrd == "" {
		t.Fatal("ESB_TEST_DOCKER_HOST and ESB_TEST_CONTAINERD_ADDRESS are not set: eval \"$(scripts/test-daemons.sh start)\"")
	}
	for _, tool := range []string{"/usr/bin/aws", "docker", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (scripts/host-setup.sh installs it)", tool)
		}
	}
	p := func(off int) string { return strconv.Itoa(base + off) }
	h.httpsURL = "https://localhost:" + p(43)
	h.httpURL = "http://127.0.0.1:" + p(80)
	h.dynamo = "http://127.0.0.1:" + p(1)
	h.s3 = "http://127.0.0.1:" + p(2)
	h.env = append(os.Environ(),
		"ESB_MODE="+mode,
		"DOCKER_HOST="+h.docker,
		"CONTAINERD_ADDRESS="+h.ctrd,
		"CONTAINERD_NAMESPACE="+h.ns,
		"ESB_DOCKER_NETWORK=esb-e2e",
		"CNI_NETWORK=esb-e2e", "CNI_BRIDGE=esbe2e0", "CNI_SUBNET=10.215.0.0/16",
		"GATEWAY_PORT="+p(43), "GATEWAY_HTTP_PORT="+p(80),
		"ESB_DYNAMODB_LISTEN=:"+p(1), "ESB_S3_LISTEN=:"+p(2), "ESB_S3_CONSOLE_LISTEN=off",
		"ESB_CACHE_DIR="+cacheDir,
		// Fast scale-to-zero, so the test sees it.
		"GATEWAY_IDLE_TIMEOUT_SECONDS=4", "HEARTBEAT_INTERVAL=1",
		"ESB_TEMPLATE=", "ESB_ENV=", "VICTORIALOGS_BIN=off",
	)
	return h
}

// project copies an example into a temporary directory named name, with a
// generator.yml giving the project that name and the image tag "e2e"; Go
// functions get a go.mod with esb's requirements so go build works there.
func (h *harness) project(example, name string) string {
	h.t.Helper()
	dir := filepath.Join(h.t.TempDir(), name)
	cp := exec.Command("cp", "-R", filepath.Join(repoRoot, "examples", example), dir)
	if out, err := cp.CombinedOutput(); err != nil {
		h.t.Fatalf("copy %s: %v\n%s", example, err, out)
	}
	os.RemoveAll(filepath.Join(dir, ".esb"))
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	cfg := fmt.Sprintf("app:\n  name: %s\n  tag: e2e\npaths:\n  sam_template: template.yaml\n  output_dir: .esb/\n", name)
	must(h.t, os.WriteFile(filepath.Join(dir, "generator.yml"), []byte(cfg), 0o644))
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	must(h.t, err)
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module example"))
	sum, err := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	must(h.t, err)
	must(h.t, os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o644))
	must(h.t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// esb runs the esb binary in dir and returns its combined output.
func (h *harness) esb(dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "esb"), args...)
	cmd.Dir = dir
	cmd.Env = h.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (h *harness) mustEsb(dir string, args ...string) string {
	h.t.Helper()
	out, err := h.esb(dir, args...)
	if err != nil {
		h.t.Fatalf("esb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// stateDir is the project's state directory.
func stateDir(dir string) string { return filepath.Join(dir, ".esb", "state") }

// secrets reads state/secrets.env.
func secrets(t *testing.T, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir(dir), "secrets.env"))
	must(t, err)
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

// client trusts the project's local CA.
func (h *harness) client(dir string) *http.Client {
	h.t.Helper()
	pem, err := os.ReadFile(filepath.Join(stateDir(dir), "certs", "ca.crt"))
	must(h.t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16,
	}}
}

type reply struct {
	status int
	body   string
	header http.Header
}

// call sends one request to the gateway over HTTPS.
func (h *harness) call(c *http.Client, method, path, token, body string, hdr ...string) (reply, error) {
	req, err := http.NewRequest(method, h.httpsURL+path, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(data), resp.Header}, err
}

func (h *harness) mustCall(c *http.Client, want int, method, path, token, body string, hdr ...string) reply {
	h.t.Helper()
	r, err := h.call(c, method, path, token, body, hdr...)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// token runs `esb token`.
func (h *harness) token(dir string) string {
	h.t.Helper()
	return strings.TrimSpace(h.mustEsb(dir, "token"))
}

// status is the supervisor's state file view of the services, from `esb status`'s source.
type svcStatus struct {
	Name     string `json:"name"`
	PID      int    `json:"pid"`
	Healthy  bool   `json:"healthy"`
	Restarts int    `json:"restarts"`
}

// services asks the supervisor (through its socket, like esb status).
func (h *harness) services(dir string) map[string]svcStatus {
	h.t.Helper()
	sock := filepath.Join(stateDir(dir), "run", "supervisor.sock")
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://supervisor/v1/status")
	if err != nil {
		h.t.Fatalf("supervisor status: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		Services []svcStatus `json:"services"`
	}
	must(h.t, json.NewDecoder(resp.Body).Decode(&st))
	out := map[string]svcStatus{}
	for _, s := range st.Services {
		out[s.Name] = s
	}
	return out
}

// waitService waits until a service is healthy with at least restarts restarts.
func (h *harness) waitService(dir, name string, restarts int, timeout time.Duration) svcStatus {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := h.services(dir)[name]
		if s.Healthy && s.Restarts >= restarts && s.PID != 0 {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("service %s not healthy with %d restarts after %s: %+v\n%s", name, restarts, timeout, s, h.mustEsb(dir, "status"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// containers lists the names of the project's function containers.
func (h *harness) containers(project string) []string {
	h.t.Helper()
	var cmd *exec.Cmd
	if h.mode == "docker" {
		cmd = exec.Command("docker", "-H", h.docker, "ps", "-a", "--filter", "label=esb.project="+project, "--format", "{{.Names}}")
	} else {
		cmd = exec.Command("ctr", "--address", h.ctrd, "-n", h.ns, "containers", "ls", "-q", `labels."esb.project"==`+project)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("list containers: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

// aws runs Debian's AWS CLI with the project's key pair.
func (h *harness) aws(dir string, args ...string) (string, error) {
	sec := secrets(h.t, dir)
	cmd := exec.Command("/usr/bin/aws", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+sec["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY="+sec["AWS_SECRET_ACCESS_KEY"],
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_PAGER=", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"HTTP_PROXY=", "HTTPS_PROXY=", "http_proxy=", "https_proxy=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (h *harness) mustAWS(dir string, args ...string) string {
	h.t.Helper()
	out, err := h.aws(dir, args...)
	if err != nil {
		h.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// down stops the project and checks no container of it is left.
func (h *harness) down(dir, project string) {
	h.t.Helper()
	h.mustEsb(dir, "down")
	if left := h.containers(project); len(left) > 0 {
		h.t.Fatalf("esb down left containers behind: %v", left)
	}
	if pids := h.esbProcs(dir); len(pids) > 0 {
		h.t.Fatalf("esb down left processes behind: %v", pids)
	}
}

// esbProcs lists processes still carrying the project's supervisor marker.
func (h *harness) esbProcs(dir string) []string {
	want := []byte("ESB_SUPERVISED_STATE=" + stateDir(dir) + "\x00")
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(env, want) {
			out = append(out, e.Name())
		}
	}
	return out
}

// pidOf reads a service's pid file.
func pidOf(t *testing.T, dir, service string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir(dir), "run", service+".pid"))
	must(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	must(t, err)
	return pid
}
