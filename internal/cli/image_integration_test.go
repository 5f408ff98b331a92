package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/cni"
	ctrd "github.com/edgeserverlessbox/esb/internal/agent/containerd"
	"github.com/edgeserverlessbox/esb/internal/agent/docker"
)

// The image tests' own containerd namespace, Docker network and CNI
// network, apart from a real agent's and the agent tests'.
const (
	imageTestNamespace = "esb-imagetest"
	imageTestNetwork   = "esb-imagetest"
	imageTestSubnet    = "10.214.0.0/16"
)

// imageDaemons returns the test daemons' addresses, skipping unless
// ESB_E2E=1 and failing when ESB_E2E=1 but they are not set.
func imageDaemons(t *testing.T) (dockerHost, containerdAddr string) {
	t.Helper()
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("integration test: set ESB_E2E=1 and start scripts/test-daemons.sh")
	}
	dockerHost, containerdAddr = os.Getenv("ESB_TEST_DOCKER_HOST"), os.Getenv("ESB_TEST_CONTAINERD_ADDRESS")
	if dockerHost == "" || containerdAddr == "" {
		t.Fatal("ESB_TEST_DOCKER_HOST and ESB_TEST_CONTAINERD_ADDRESS must be set: eval \"$(scripts/test-daemons.sh start)\"")
	}
	return dockerHost, containerdAddr
}

// goExample copies examples/hello-go and makes it a module of its own with
// esb's requirements, so its go build works outside the esb tree.
func goExample(t *testing.T) string {
	t.Helper()
	dir := copyProject(t, filepath.Join(packageDir, "../../examples/hello-go"), "hello-go")
	mod, err := os.ReadFile(filepath.Join(packageDir, "../../go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module hellogo"))
	sum, err := os.ReadFile(filepath.Join(packageDir, "../../go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o644)
	os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)
	return dir
}

// testRIE builds esb-rie into the test's temporary directory, as `make
// esb-rie` does (Go's build cache makes every build after the first cheap).
func testRIE(t *testing.T) string {
	t.Helper()
	rie := filepath.Join(t.TempDir(), "esb-rie")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", rie, "./cmd/esb-rie")
	cmd.Dir = filepath.Join(packageDir, "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build esb-rie: %v\n%s", err, out)
	}
	return rie
}

// discardSink drops worker output.
type discardSink struct{}

func (discardSink) WriteLine(agent.LogLine) {}

// imageMode is one mode under test with the agent runtime to run its images.
type imageMode struct {
	name       string
	newRuntime func(t *testing.T) agent.Runtime
}

// invokeImage starts a worker of image with the agent, invokes it once over
// HTTP as the gateway does, and returns the function's answer.
func invokeImage(t *testing.T, m imageMode, function, image, event string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rt := m.newRuntime(t)
	defer rt.Close()
	cfg := agent.DefaultConfig()
	cfg.ReadinessTimeout = 30 * time.Second
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := agent.New(cfg, rt, discardSink{}, logger)
	w, err := svc.Ensure(ctx, agent.EnsureRequest{Function: function, Project: "imagetest", Image: image, MemoryMB: 256,
		Env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_TIMEOUT": "10"}})
	if err != nil {
		t.Fatalf("%s: start %s: %v", m.name, image, err)
	}
	defer svc.Destroy(context.Background(), w.ID)
	url := fmt.Sprintf("http://%s/2015-03-31/functions/function/invocations", net.JoinHostPort(w.IP, fmt.Sprint(w.Port)))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post(url, "application/json", strings.NewReader(event))
	if err != nil {
		t.Fatalf("%s: invoke %s: %v", m.name, image, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" {
		t.Fatalf("%s: invoke %s: %s %s", m.name, image, resp.Status, body)
	}
	return string(body)
}

// TestIntegrationBuildImages builds examples/hello-go (provided.al2023, Go)
// and examples/hello-python (offline base from this host's packages) with
// `esb build` into Docker and into containerd, runs each image with the
// agent and invokes it over HTTP; checks that a missing base image names
// `esb base build`, that an unchanged build reuses everything and that a
// code-only change rebuilds only the code layer.
func TestIntegrationBuildImages(t *testing.T) {
	dockerHost, ctrdAddr := imageDaemons(t)
	cache := t.TempDir() // shared by both modes, as one user's cache is
	modes := []imageMode{
		{name: "docker", newRuntime: func(t *testing.T) agent.Runtime {
			rt, err := docker.New(context.Background(), docker.Config{Host: dockerHost, Network: imageTestNetwork}, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			return rt
		}},
		{name: "containerd", newRuntime: func(t *testing.T) agent.Runtime {
			rt, err := ctrd.New(context.Background(), ctrd.Config{
				Address: ctrdAddr, Namespace: imageTestNamespace, StateDir: t.TempDir(),
				CNI: cni.Config{Name: imageTestNetwork, Bridge: "esbimg0", Subnet: imageTestSubnet},
			}, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			return rt
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			isolate(t)
			t.Setenv("ESB_MODE", m.name)
			t.Setenv("DOCKER_HOST", dockerHost)
			t.Setenv("CONTAINERD_ADDRESS", ctrdAddr)
			t.Setenv("CONTAINERD_NAMESPACE", imageTestNamespace)
			t.Setenv("ESB_CACHE_DIR", cache)
			t.Setenv("ESB_RIE", testRIE(t))

			// hello-go: go build, esb-rie and the bootstrap on scratch.
			t.Chdir(goExample(t))
			_, stderr, err := runESB(t, nil, "build")
			if err != nil {
				t.Fatalf("esb build hello-go: %v\n%s", err, stderr)
			}
			if !regexp.MustCompile(`(?m)^hello-go  esb-hello-go:latest  scratch · go build \S+ · esb-rie (built|reused) [^·]*· code (built|reused)`).MatchString(stderr) {
				t.Errorf("progress line of hello-go:\n%s", stderr)
			}
			body := invokeImage(t, m, "hello-go", "esb-hello-go:latest", `{"httpMethod":"GET","path":"/hello"}`)
			if !strings.Contains(body, `Hello, world!`) {
				t.Errorf("hello-go answered %s", body)
			}
			_, stderr, err = runESB(t, nil, "build")
			if err != nil || !strings.Contains(stderr, "esb-rie reused · code reused · already in") {
				t.Errorf("unchanged rebuild: %v\n%s", err, stderr)
			}

			// hello-python: no base image yet.
			t.Chdir(copyProject(t, filepath.Join(packageDir, "../../examples/hello-python"), "hello-python"))
			_, _, err = runESB(t, nil, "build")
			if err == nil || !strings.Contains(err.Error(), "base image public.ecr.aws/lambda/python:3.12 for runtime python3.12 is not in") ||
				!strings.Contains(err.Error(), "run `esb base build python3.12`") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("build without a base image: %v", err)
			}
			stdout, stderr, err := runESB(t, nil, "base", "build", "python3.12")
			if err != nil {
				t.Fatalf("esb base build: %v\n%s", err, stderr)
			}
			if !strings.Contains(stdout, "stands in for python3.12") && !strings.Contains(stdout, "(Python 3.12") {
				t.Errorf("base build does not say which python it is:\n%s", stdout)
			}
			if cfg, _ := os.ReadFile("generator.yml"); !strings.Contains(string(cfg), "python3.12: esb-base-python3.12:local") {
				t.Errorf("generator.yml:\n%s", cfg)
			}
			stdout, _, err = runESB(t, nil, "base", "build", "python3.12")
			if err != nil || !strings.Contains(stdout, "up to date (packages unchanged)") || !strings.Contains(stdout, "already there") {
				t.Errorf("second base build rebuilt: %v\n%s", err, stdout)
			}
			_, stderr, err = runESB(t, nil, "build")
			if err != nil {
				t.Fatalf("esb build hello-python: %v\n%s", err, stderr)
			}
			body = invokeImage(t, m, "hello-python", "esb-hello-python:latest", `{"httpMethod":"GET","path":"/hello/esb","pathParameters":{"name":"esb"}}`)
			if !strings.Contains(body, `Hello, esb!`) {
				t.Errorf("hello-python answered %s", body)
			}

			// A code-only change: only the code layer is built, and the
			// function answers with the new code.
			app := filepath.Join("functions", "hello", "app.py")
			src, _ := os.ReadFile(app)
			os.WriteFile(app, bytes.Replace(src, []byte(`f"{GREETING}, {name}!"`), []byte(`f"{GREETING} again from `+m.name+`, {name}!"`), 1), 0o644)
			_, stderr, err = runESB(t, nil, "build")
			if err != nil || !strings.Contains(stderr, "esb-rie reused · code built") || !strings.Contains(stderr, "(1 layer,") {
				t.Errorf("code-only change: %v\n%s", err, stderr)
			}
			body = invokeImage(t, m, "hello-python", "esb-hello-python:latest", `{"pathParameters":{"name":"esb"}}`)
			if !strings.Contains(body, `Hello again from `+m.name+`, esb!`) {
				t.Errorf("hello-python after the change answered %s", body)
			}
		})
	}
}

// TestIntegrationDockerfileBuildsTheSameImage builds the rendered
// Dockerfiles of hello-go and hello-python with plain `docker build` and
// compares the result with esb's native build: same entrypoint, command,
// working directory, labels, environment (but Docker's default PATH) and
// the same files at the same modes.
func TestIntegrationDockerfileBuildsTheSameImage(t *testing.T) {
	dockerHost, _ := imageDaemons(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("the docker CLI is needed (Debian package docker.io)")
	}
	isolate(t)
	t.Setenv("ESB_MODE", "docker")
	t.Setenv("DOCKER_HOST", dockerHost)
	t.Setenv("ESB_CACHE_DIR", t.TempDir())
	t.Setenv("ESB_RIE", testRIE(t))
	dockerCmd := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost, "DOCKER_BUILDKIT=0")
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return string(out)
	}
	for _, ex := range []struct{ name, fn string }{{"hello-go", "hello-go"}, {"hello-python", "hello-python"}} {
		t.Run(ex.name, func(t *testing.T) {
			dir := copyProject(t, filepath.Join(packageDir, "../../examples", ex.name), ex.name)
			if ex.name == "hello-go" {
				dir = goExample(t)
			}
			t.Chdir(dir)
			if ex.name == "hello-python" {
				if _, stderr, err := runESB(t, nil, "base", "build", "python3.12"); err != nil {
					t.Fatalf("esb base build: %v\n%s", err, stderr)
				}
			}
			if _, stderr, err := runESB(t, nil, "build"); err != nil {
				t.Fatalf("esb build: %v\n%s", err, stderr)
			}
			native := "esb-" + ex.fn + ":latest"
			byDocker := "esb-dockerfile-" + ex.fn + ":latest"
			dockerCmd(dir, "build", "-q", "-f", ".esb/functions/"+ex.fn+"/Dockerfile", "-t", byDocker, ".")
			t.Cleanup(func() { exec.Command("docker", "-H", dockerHost, "rmi", "-f", byDocker).Run() })

			type cfg struct {
				Entrypoint, Cmd, Env []string
				WorkingDir           string
				Labels               map[string]string
			}
			inspect := func(ref string) cfg {
				var out []struct{ Config cfg }
				if err := json.Unmarshal([]byte(dockerCmd(dir, "image", "inspect", ref)), &out); err != nil || len(out) != 1 {
					t.Fatalf("inspect %s: %v", ref, err)
				}
				c := out[0].Config
				var env []string
				for _, e := range c.Env {
					if !strings.HasPrefix(e, "PATH=") { // docker build adds a default PATH on scratch
						env = append(env, e)
					}
				}
				c.Env = env
				return c
			}
			a, b := inspect(native), inspect(byDocker)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("config differs:\n esb    %+v\n docker %+v", a, b)
			}
			files := func(ref string) []string {
				id := strings.TrimSpace(dockerCmd(dir, "create", ref))
				defer exec.Command("docker", "-H", dockerHost, "rm", "-f", id).Run()
				cmd := exec.Command("docker", "-H", dockerHost, "export", id)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("export %s: %v", ref, err)
				}
				var names []string
				for _, e := range tarNamesOf(t, out) {
					if strings.HasPrefix(e, "var/task/") || strings.HasPrefix(e, "usr/local/bin/esb-rie") || strings.HasPrefix(e, "opt/") {
						names = append(names, e)
					}
				}
				sort.Strings(names)
				return names
			}
			fa, fb := files(native), files(byDocker)
			if strings.Join(fa, "\n") != strings.Join(fb, "\n") || len(fa) < 2 {
				t.Errorf("files differ:\n esb    %v\n docker %v", fa, fb)
			}
		})
	}
}

// tarNamesOf lists a tar's entries as "name mode size" (times differ
// between builders and are left out).
func tarNamesOf(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read exported image: %v", err)
		}
		out = append(out, fmt.Sprintf("%s %o %d %s", strings.TrimSuffix(h.Name, "/"), h.Mode&0o7777, h.Size, h.Linkname))
	}
}

// TestIntegrationPushToRegistry builds hello-go in containerd mode with
// CONTAINER_REGISTRY set: the image is pushed to the registry (an
// in-process go-containerregistry registry) and imported into the local
// containerd under the same name; an unchanged second build sends nothing.
func TestIntegrationPushToRegistry(t *testing.T) {
	_, ctrdAddr := imageDaemons(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	isolate(t)
	t.Setenv("ESB_MODE", "containerd")
	t.Setenv("CONTAINER_REGISTRY", host)
	t.Setenv("ESB_REGISTRY_INSECURE", "1")
	t.Setenv("CONTAINERD_ADDRESS", ctrdAddr)
	t.Setenv("CONTAINERD_NAMESPACE", imageTestNamespace)
	t.Setenv("ESB_CACHE_DIR", t.TempDir())
	t.Setenv("ESB_RIE", testRIE(t))
	t.Chdir(goExample(t))
	_, stderr, err := runESB(t, nil, "build")
	if err != nil {
		t.Fatalf("esb build: %v\n%s", err, stderr)
	}
	ref := host + "/esb-hello-go:latest"
	if !strings.Contains(stderr, "hello-go  "+ref) || !strings.Contains(stderr, "pushed to "+host+", imported into containerd") {
		t.Errorf("progress:\n%s", stderr)
	}
	d, err := remote.Head(mustRef(t, ref))
	if err != nil {
		t.Fatalf("the registry does not have %s: %v", ref, err)
	}
	out, err := exec.Command("ctr", "--address", ctrdAddr, "-n", imageTestNamespace, "images", "ls", "-q").CombinedOutput()
	if err != nil || !strings.Contains(string(out), ref) {
		t.Errorf("containerd images: %v\n%s", err, out)
	}
	_, stderr, err = runESB(t, nil, "build")
	if err != nil || !strings.Contains(stderr, "already in registry") {
		t.Errorf("unchanged build: %v\n%s", err, stderr)
	}
	if d2, err := remote.Head(mustRef(t, ref)); err != nil || d2.Digest != d.Digest {
		t.Errorf("digest changed on an unchanged build: %v %v", d2, err)
	}
}

func mustRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
