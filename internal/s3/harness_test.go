package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeserverlessbox/esb/internal/s3/s3client"
)

const (
	testAccess = "esbtestadmin"
	testSecret = "esbtestsecret-0123456789"
)

var (
	esbBin   string // built once in TestMain when ESB_E2E=1
	buildErr error
)

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv("ESB_E2E") == "1" {
			dir, err := os.MkdirTemp("", "esb-s3-test-")
			if err != nil {
				buildErr = err
			} else {
				defer os.RemoveAll(dir)
				esbBin = filepath.Join(dir, "esb")
				root, err := moduleRoot()
				if err == nil {
					cmd := exec.Command("go", "build", "-o", esbBin, "./cmd/esb")
					cmd.Dir = root
					out, err := cmd.CombinedOutput()
					if err != nil {
						buildErr = fmt.Errorf("go build ./cmd/esb: %v\n%s", err, out)
					}
				} else {
					buildErr = err
				}
			}
		}
		code := m.Run()
		if shared != nil {
			shared.stop()
		}
		if sharedDir != "" {
			os.RemoveAll(sharedDir)
		}
		return code
	}()
	os.Exit(code)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// needE2E skips unless ESB_E2E=1 and fails when the binary did not build.
func needE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("set ESB_E2E=1 to run tests against the built esb s3")
	}
	if buildErr != nil {
		t.Fatalf("build esb: %v", buildErr)
	}
}

// server is a running `esb s3` process.
type server struct {
	cmd      *exec.Cmd
	port     string
	console  string
	dataDir  string
	endpoint string
	mu       sync.Mutex
	log      bytes.Buffer
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

// Log returns what the process printed so far.
func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func pickPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, nil
}

// launch starts `esb s3` on free ports with dataDir and waits until the API
// answers its health check and the console accepts connections.
func launch(dataDir string, env ...string) (*server, error) {
	s := &server{dataDir: dataDir}
	var err error
	if s.port, err = pickPort(); err != nil {
		return nil, err
	}
	if s.console, err = pickPort(); err != nil {
		return nil, err
	}
	s.endpoint = "http://127.0.0.1:" + s.port
	s.cmd = exec.Command(esbBin, "s3", "--data-dir", dataDir, "--listen", "127.0.0.1:"+s.port, "--console-listen", "127.0.0.1:"+s.console)
	s.cmd.Env = append(os.Environ(), "RUSTFS_ACCESS_KEY="+testAccess, "RUSTFS_SECRET_KEY="+testSecret, "ESB_S3_ACCESS_KEY=", "ESB_S3_SECRET_KEY=")
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start esb s3: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.endpoint + "/.esb/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("esb s3 did not become healthy within 15 s:\n%s", s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+s.console)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("console did not listen within 15 s:\n%s", s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startServer launches a server that t's cleanup stops.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	needE2E(t)
	s, err := launch(dataDir, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// kill9 kills the process with SIGKILL, as a crash would.
func (s *server) kill9(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 esb s3: %v", err)
	}
	_ = s.cmd.Wait()
}

func (s *server) client() *s3.Client {
	return s3client.New(s3client.Config{Endpoint: s.endpoint, AccessKey: testAccess, SecretKey: testSecret})
}

var (
	sharedOnce sync.Once
	shared     *server
	sharedErr  error
	sharedDir  string
)

// sharedServer is one server for the tests that do not restart it; TestMain
// stops it.
func sharedServer(t *testing.T) *server {
	t.Helper()
	needE2E(t)
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "esb-s3-shared-")
		if sharedErr == nil {
			shared, sharedErr = launch(sharedDir)
		}
	})
	if sharedErr != nil {
		t.Fatalf("shared esb s3: %v", sharedErr)
	}
	return shared
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
