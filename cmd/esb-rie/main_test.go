package main

// Host-process tests: esb-rie is built and run as a separate process, as in
// a container, with real runtimes: a Go function built with aws-lambda-go,
// and Python and Node.js functions run by the host's /usr/bin/python3 and
// /usr/bin/node through esb-rie's own runtime clients.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	rieBin    string // the esb-rie binary under test
	gofnBin   string // testdata/gofn built with aws-lambda-go
	minrieBin string // testdata/minrie, the benchmark's protocol floor
)

const (
	pythonBin = "/usr/bin/python3"
	nodeBin   = "/usr/bin/node"
)

func TestMain(m *testing.M) {
	if os.Getenv(echoServerEnv) != "" {
		runEchoServer() // the benchmark's baseline, in a process of its own
		return
	}
	dir, err := os.MkdirTemp("", "esb-rie-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rieBin = filepath.Join(dir, "esb-rie")
	gofnBin = filepath.Join(dir, "gofn")
	minrieBin = filepath.Join(dir, "minrie")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, b := range []struct{ out, pkg string }{{rieBin, "."}, {gofnBin, "./testdata/gofn"}, {minrieBin, "./testdata/minrie"}} {
		cmd := exec.Command(goTool, "build", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool skips when a host tool is missing, unless ESB_E2E=1 says the
// environment must have it.
func needTool(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("ESB_E2E") == "1" {
			t.Fatalf("%s is required with ESB_E2E=1: %v", path, err)
		}
		t.Skipf("%s not installed (apt-get install python3 nodejs); skipping", path)
	}
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runQuiet runs a command briefly and returns its combined output.
func runQuiet(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// rieProc is a running esb-rie process.
type rieProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	url    string
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{}
	err    error
	client *http.Client
}

type rieOptions struct {
	args []string // esb-rie's arguments after --listen
	env  []string // added to a minimal environment
	dir  string   // LAMBDA_TASK_ROOT
	// quiet sends esb-rie's stdout to /dev/null (the benchmark: reading it
	// would put the test process in the measured path).
	quiet bool
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRIE runs esb-rie and waits until /healthz answers.
func startRIE(t testing.TB, o rieOptions) *rieProc {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"--listen", addr}, o.args...)
	cmd := exec.Command(rieBin, args...)
	cmd.Env = append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"TMPDIR=" + t.TempDir(),
		"LAMBDA_TASK_ROOT=" + o.dir,
		"AWS_LAMBDA_FUNCTION_NAME=hello",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"PYTHONDONTWRITEBYTECODE=1", // keep testdata free of __pycache__
	}, o.env...)
	r := &rieProc{t: t, cmd: cmd, url: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	if o.quiet {
		cmd.Stdout = nil
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := r.client.Get(r.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		select {
		case <-r.exited:
			t.Fatalf("esb-rie exited at start: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("esb-rie did not answer /healthz\nstderr:\n%s", r.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rieProc) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		r.t.Errorf("esb-rie ignored SIGTERM for 10s\nstderr:\n%s", r.stderr)
	}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (p reply) String() string {
	return fmt.Sprintf("%d %v %.500s", p.status, p.header, p.body)
}

// invoke posts an event to the invoke endpoint.
func (r *rieProc) invoke(body []byte, hdr ...string) reply {
	r.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
		r.url+"/2015-03-31/functions/function/invocations", bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatalf("invoke: %v\nstderr:\n%s", err, r.stderr)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func (r *rieProc) invokeString(body string, hdr ...string) reply {
	r.t.Helper()
	return r.invoke([]byte(body), hdr...)
}

// waitOutput waits until esb-rie's stdout contains s.
func (r *rieProc) waitOutput(s string) string {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := r.stdout.String()
		if strings.Contains(out, s) {
			return out
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("stdout lacks %q:\n%s\nstderr:\n%s", s, out, r.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var reportRE = regexp.MustCompile(`REPORT RequestId: ([^\t]+)\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: (\d+) MB\tMax Memory Used: (\d+) MB\t(Init Duration: \d+\.\d\d ms\t)?(Status: \w+\t(Error Type: [\w.]+\t)?)?\n`)

// report returns the REPORT line of a request id.
func (r *rieProc) report(id string) []string {
	r.t.Helper()
	r.waitOutput("REPORT RequestId: " + id)
	for _, m := range reportRE.FindAllStringSubmatch(r.stdout.String(), -1) {
		if m[1] == id {
			return m
		}
	}
	r.t.Fatalf("malformed REPORT line for %s:\n%s", id, r.stdout)
	return nil
}

func expectOK(t *testing.T, p reply, wantBody string) {
	t.Helper()
	if p.status != 200 || p.header.Get("X-Amz-Function-Error") != "" || (wantBody != "" && string(p.body) != wantBody) {
		t.Fatalf("want 200 %s, got %v", wantBody, p)
	}
}

func expectError(t *testing.T, p reply, kind string, bodyParts ...string) {
	t.Helper()
	if p.status != 200 || p.header.Get("X-Amz-Function-Error") != "Unhandled" || p.header.Get("X-Esb-Error-Kind") != kind {
		t.Fatalf("want a %s error, got %v", kind, p)
	}
	for _, s := range bodyParts {
		if !strings.Contains(string(p.body), s) {
			t.Fatalf("error body lacks %q: %s", s, p.body)
		}
	}
}
