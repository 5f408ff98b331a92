package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/bench/harness"
	"github.com/edgeserverlessbox/esb/internal/gateway/apigw"
	"github.com/edgeserverlessbox/esb/internal/gateway/auth"
	"github.com/edgeserverlessbox/esb/internal/gateway/route"
	"github.com/edgeserverlessbox/esb/internal/gateway/worker"
	"github.com/edgeserverlessbox/esb/internal/h1"
	"github.com/edgeserverlessbox/esb/internal/manifest"
	"github.com/edgeserverlessbox/esb/internal/supervisor"
)

// engines are the container engines the stack scenarios use: the private test
// daemons when scripts/test-daemons.sh runs them, else the system's.
type engines struct {
	dockerHost, containerd string
}

func findEngines() engines {
	e := engines{
		dockerHost: firstSet(os.Getenv("ESB_TEST_DOCKER_HOST"), os.Getenv("DOCKER_HOST"), "unix:///var/run/docker.sock"),
		containerd: firstSet(os.Getenv("ESB_TEST_CONTAINERD_ADDRESS"), os.Getenv("CONTAINERD_ADDRESS"), "/run/containerd/containerd.sock"),
	}
	return e
}

func firstSet(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// stack is one esb project started with `esb up` on private ports.
type stack struct {
	env     *harness.Env
	mode    string
	dir     string
	project string
	environ []string
	httpURL string
	token   string
	eng     engines
	conn    *grpc.ClientConn
	agent   agentv1.AgentServiceClient
	fns     manifest.Functions
}

// stackPorts gives every mode its own port block, below the ephemeral range.
func stackPorts(mode string) int {
	if mode == "containerd" {
		return 25000
	}
	return 24000
}

// newStack copies an example into the work dir and prepares its environment;
// start runs `esb up --wait` on it.
func newStack(ctx context.Context, env *harness.Env, example, mode string, extra ...string) (*stack, error) {
	repo, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	name := "bench-" + example + "-" + mode
	dir := filepath.Join(env.WorkDir, name)
	os.RemoveAll(dir)
	if out, err := exec.CommandContext(ctx, "cp", "-R", filepath.Join(repo, "examples", example), dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy example %s: %v: %s", example, err, out)
	}
	os.RemoveAll(filepath.Join(dir, ".esb"))
	cfg := fmt.Sprintf("app:\n  name: %s\n  tag: bench\npaths:\n  sam_template: template.yaml\n  output_dir: .esb/\n", name)
	if err := os.WriteFile(filepath.Join(dir, "generator.yml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	// Go functions build in the copy with esb's own requirements.
	mod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		return nil, err
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module example"))
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		return nil, err
	}
	// The unprivileged gateway user must reach the binaries and the project.
	for _, d := range []string{env.WorkDir, env.BinDir} {
		_ = os.Chmod(d, 0o755)
	}
	base := stackPorts(mode)
	p := func(off int) string { return strconv.Itoa(base + off) }
	s := &stack{env: env, mode: mode, dir: dir, project: name, eng: findEngines(), httpURL: "http://127.0.0.1:" + p(80)}
	s.environ = append(os.Environ(),
		"ESB_MODE="+mode,
		"DOCKER_HOST="+s.eng.dockerHost,
		"CONTAINERD_ADDRESS="+s.eng.containerd,
		"CONTAINERD_NAMESPACE=esb-bench",
		"ESB_DOCKER_NETWORK=esb-bench",
		"CNI_NETWORK=esb-bench", "CNI_BRIDGE=esbbench0", "CNI_SUBNET=10.216.0.0/16",
		"GATEWAY_PORT="+p(43), "GATEWAY_HTTP_PORT="+p(80),
		"ESB_DYNAMODB_LISTEN=127.0.0.1:"+p(1), "ESB_S3_LISTEN=127.0.0.1:"+p(2), "ESB_S3_CONSOLE_LISTEN=off",
		"ESB_CACHE_DIR="+filepath.Join(env.WorkDir, "cache"),
		"ESB_TEMPLATE=", "ESB_ENV=", "VICTORIALOGS_BIN=off", "ACCESS_LOG=false",
	)
	s.environ = append(s.environ, extra...)
	return s, nil
}

func (s *stack) esb(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.env.BinDir, "esb"), args...)
	cmd.Dir, cmd.Env = s.dir, s.environ
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("esb %s: %v\n%s", strings.Join(args, " "), err, lastLines(out, 15))
	}
	return string(out), nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// baseFor builds the offline base image a python/node example needs.
func (s *stack) baseFor(ctx context.Context, runtimes ...string) error {
	for _, rt := range runtimes {
		if _, err := s.esb(ctx, "base", "build", rt); err != nil {
			return err
		}
	}
	return nil
}

// up runs `esb up --wait` and returns how long it took.
func (s *stack) up(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	if _, err := s.esb(ctx, "up", "--wait", "--timeout", "2m"); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if err := manifest.Load(filepath.Join(s.dir, ".esb", "config", manifest.FunctionsFile), &s.fns); err != nil {
		return 0, err
	}
	tok, err := s.esb(ctx, "token")
	if err != nil {
		return 0, err
	}
	s.token = strings.TrimSpace(tok)
	if s.conn == nil {
		sock := filepath.Join(s.dir, ".esb", "state", "run", "agent.sock")
		conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, fmt.Errorf("connect to the agent: %w", err)
		}
		s.conn, s.agent = conn, agentv1.NewAgentServiceClient(conn)
	}
	return d, nil
}

// down stops the project and removes its state.
func (s *stack) down(ctx context.Context) {
	if s.conn != nil {
		s.conn.Close()
		s.conn, s.agent = nil, nil
	}
	if _, err := s.esb(ctx, "down", "--volumes", "--yes"); err != nil {
		s.env.Log.Warn("esb down", "project", s.project, "err", err)
	}
}

// routeOp GETs path through the gateway's plain HTTP port with the IdToken.
func (s *stack) routeOp(c *http.Client, path string) func(ctx context.Context, _ int) error {
	url := s.httpURL + path
	auth := "Bearer " + s.token
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
		}
		return nil
	}
}

// workers lists the project's running workers.
func (s *stack) workers(ctx context.Context) ([]*agentv1.ContainerSummary, error) {
	resp, err := s.agent.ListContainers(ctx, &agentv1.ListContainersRequest{Project: s.project})
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	var out []*agentv1.ContainerSummary
	for _, c := range resp.Containers {
		if c.Status == "running" {
			out = append(out, c)
		}
	}
	return out, nil
}

// waitForZero waits until the gateway scaled the project to zero workers.
func (s *stack) waitForZero(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ws, err := s.workers(ctx)
		if err != nil {
			return err
		}
		if len(ws) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d worker(s) still running after %s; the gateway did not scale to zero", len(ws), limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// servicePIDs asks the supervisor for its own and the daemons' pids.
func (s *stack) servicePIDs(ctx context.Context) (map[string]int, error) {
	st, err := supervisor.NewClient(supervisor.Layout{Root: filepath.Join(s.dir, ".esb", "state")}).Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("supervisor status: %w", err)
	}
	pids := map[string]int{"supervisor": st.PID}
	for _, sv := range st.Services {
		if sv.PID > 0 {
			pids[sv.Name] = sv.PID
		}
	}
	return pids, nil
}

// memory returns a process's RSS and PSS in MiB.
func memory(pid int) (rss, pss float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "Rss:":
			rss = kb / 1024
		case "Pss:":
			pss = kb / 1024
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no Rss in smaps_rollup")
	}
	return rss, pss, sc.Err()
}

// invokeWorker POSTs an event straight to a worker's esb-rie.
func invokeWorker(ctx context.Context, c *http.Client, addr string, event []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
		return fmt.Errorf("invoke %s: status %d %s", addr, resp.StatusCode, resp.Header.Get("X-Esb-Error-Kind"))
	}
	return nil
}

// gatewayEvent builds the REST API event the gateway sends a worker for the
// bench client's `GET path` with the IdToken: the gateway's own event builder,
// the headers the bench's Go client sends, the token's claims.
func (s *stack) gatewayEvent(path string) ([]byte, error) {
	claims, err := tokenClaims(s.token)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s.httpURL)
	if err != nil {
		return nil, err
	}
	name, _, err := onlyFunction(s)
	if err != nil {
		return nil, err
	}
	h := http.Header{"User-Agent": {"Go-http-client/1.1"}, "Authorization": {"Bearer " + s.token}}
	ev := apigw.Request{
		Method: http.MethodGet, Path: path, RawPath: path, Header: h, Host: u.Host, Proto: "HTTP/1.1",
		Scheme: "http", Port: u.Port(), SourceIP: "127.0.0.1",
		Target:    &route.Target{Function: name, API: manifest.APIRest, PayloadFormat: "1.0", Resource: path, Method: http.MethodGet},
		RequestID: "c60a8853-c6d8-459e-927f-918a95a757c4", TraceID: "Root=1-6b0a043e-38633251b6eaf0378d22231a;Sampled=1",
		Time: time.Now(), Claims: claims, AccountID: "123456789012", APIID: "esbrestapi",
	}
	return apigw.AppendEvent(nil, &ev), nil
}

// tokenClaims reads a JWT's claims (unverified: the bench only needs their
// shape), rendered as the gateway renders them for requestContext.authorizer.
func tokenClaims(token string) (map[string]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("esb token: want a JWT with 3 parts, got %d", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("esb token payload: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("esb token payload: %w", err)
	}
	return auth.StringClaims(m), nil
}

// bareProxy starts the least a gateway can be: esb's HTTP/1.1 server on
// loopback whose every request POSTs event to the worker at addr with the
// gateway's worker client (same invoke headers) and answers with the worker's
// body. No routing, auth, event building, pool, metrics or logs.
func bareProxy(addr string, event []byte) (proxyURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	wc := worker.NewClient()
	target := "http://" + addr + "/2015-03-31/functions/function/invocations"
	srv := &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := wc.Invoke(r.Context(), &worker.Invocation{URL: target, Payload: event,
			RequestID: "c60a8853-c6d8-459e-927f-918a95a757c4", TraceID: "Root=1-6b0a043e-38633251b6eaf0378d22231a;Sampled=1",
			FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:hello-go"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Release()
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write(res.Body)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/hello", func() { srv.Close(); wc.CloseIdle() }, nil
}
