package logs

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/agenttest"
	"github.com/edgeserverlessbox/esb/internal/agent/cni"
	ctrd "github.com/edgeserverlessbox/esb/internal/agent/containerd"
	"github.com/edgeserverlessbox/esb/internal/agent/docker"
)

// The logs tests' own Docker network, containerd namespace and CNI network.
const (
	logsTestImage     = "esb-logstest-chatty:latest"
	logsTestNetwork   = "esb-logstest"
	logsTestNamespace = "esb-logstest"
	logsTestSubnet    = "10.217.0.0/16"
	logsTestBridge    = "esblogs0"
)

func testDaemons(t testing.TB) (dockerHost, containerdAddr string) {
	t.Helper()
	integration(t)
	dockerHost, containerdAddr = os.Getenv("ESB_TEST_DOCKER_HOST"), os.Getenv("ESB_TEST_CONTAINERD_ADDRESS")
	if dockerHost == "" || containerdAddr == "" {
		t.Fatal("ESB_TEST_DOCKER_HOST and ESB_TEST_CONTAINERD_ADDRESS must be set: eval \"$(scripts/test-daemons.sh start)\"")
	}
	return dockerHost, containerdAddr
}

func repoRoot() string {
	_, self, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

var (
	chattyOnce sync.Once
	chattyTar  []byte
	chattyErr  error
)

// chattyImage builds an image as esb build makes a provided.al2023 one:
// the real esb-rie as entrypoint and testdata/chatty as /var/task/bootstrap.
func chattyImage(t testing.TB) []byte {
	t.Helper()
	chattyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "esb-logstest")
		if err != nil {
			chattyErr = err
			return
		}
		defer os.RemoveAll(dir)
		build := func(out, pkg string) error {
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, out), pkg)
			cmd.Dir = repoRoot()
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("build %s: %v\n%s", pkg, err, b)
			}
			return nil
		}
		if chattyErr = build("esb-rie", "./cmd/esb-rie"); chattyErr != nil {
			return
		}
		if chattyErr = build("bootstrap", "./internal/logs/testdata/chatty"); chattyErr != nil {
			return
		}
		chattyTar, chattyErr = imageTar(logsTestImage, map[string]string{
			"usr/local/bin/esb-rie": filepath.Join(dir, "esb-rie"),
			"var/task/bootstrap":    filepath.Join(dir, "bootstrap"),
		}, []string{"/usr/local/bin/esb-rie"})
	})
	if chattyErr != nil {
		t.Fatal(chattyErr)
	}
	return chattyTar
}

// imageTar makes a one-layer `docker save` archive of files (path in the
// image → file on the host).
func imageTar(tag string, files map[string]string, entrypoint []string) ([]byte, error) {
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	mtime := time.Unix(0, 0)
	for _, d := range []string{"tmp", "usr", "usr/local", "usr/local/bin", "var", "var/task"} {
		if err := lw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir}); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"usr/local/bin/esb-rie", "var/task/bootstrap"} {
		data, err := os.ReadFile(files[name])
		if err != nil {
			return nil, err
		}
		if err := lw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		lw.Write(data)
	}
	lw.Close()
	sum := sha256.Sum256(layer.Bytes())
	layerHex := hex.EncodeToString(sum[:])
	cfg, _ := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH, "os": "linux", "created": mtime.UTC().Format(time.RFC3339),
		"config": map[string]any{"Entrypoint": entrypoint, "Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, "WorkingDir": "/var/task"},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerHex}},
	})
	cfgSum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{tag}, "Layers": []string{layerHex + "/layer.tar"}}})
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, f := range []struct {
		name string
		data []byte
	}{{layerHex + "/layer.tar", layer.Bytes()}, {cfgName, cfg}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		tw.Write(f.data)
	}
	tw.Close()
	return out.Bytes(), nil
}

// logsMode is one container runtime under test.
type logsMode struct {
	name       string
	load       func(ctx context.Context, archive []byte) error
	newRuntime func(t testing.TB) agent.Runtime
}

func logsModes(t testing.TB) []logsMode {
	dockerHost, ctrdAddr := testDaemons(t)
	return []logsMode{
		{name: "docker",
			load: func(ctx context.Context, a []byte) error { return agenttest.LoadDocker(ctx, dockerHost, a) },
			newRuntime: func(t testing.TB) agent.Runtime {
				rt, err := docker.New(context.Background(), docker.Config{Host: dockerHost, Network: logsTestNetwork}, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				return rt
			}},
		{name: "containerd",
			load: func(ctx context.Context, a []byte) error {
				return agenttest.ImportContainerd(ctx, ctrdAddr, logsTestNamespace, a)
			},
			newRuntime: func(t testing.TB) agent.Runtime {
				rt, err := ctrd.New(context.Background(), ctrd.Config{Address: ctrdAddr, Namespace: logsTestNamespace, StateDir: t.TempDir(),
					CNI: cni.Config{Name: logsTestNetwork, Bridge: logsTestBridge, Subnet: logsTestSubnet}}, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				return rt
			}},
	}
}

// invokeWorker invokes a worker as the gateway does.
func invokeWorker(ctx context.Context, client *http.Client, w agent.Worker, reqID, trace, event string) (*http.Response, string, error) {
	url := fmt.Sprintf("http://%s/2015-03-31/functions/function/invocations", net.JoinHostPort(w.IP, fmt.Sprint(w.Port)))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(event))
	req.Header.Set("X-Amzn-RequestId", reqID)
	req.Header.Set("X-Amzn-Trace-Id", trace)
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// TestIntegrationShortLivedContainers runs the real agent on Docker Engine
// and on containerd with the real esb-rie in every worker: workers print
// hundreds of lines per invoke on both streams, are destroyed right after
// their last invoke (one crashes on it), and every line arrives in the store
// exactly once, in order per container, with its request and trace id.
// Docker mode writes the local store, containerd mode VictoriaLogs.
func TestIntegrationShortLivedContainers(t *testing.T) {
	modes := logsModes(t)
	archive := chattyImage(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			if err := m.load(ctx, archive); err != nil {
				t.Fatal(err)
			}
			logDir := t.TempDir()
			cfg := Config{Service: "agent", Dir: logDir, FlushInterval: 20 * time.Millisecond}
			if m.name == "containerd" {
				addr := freePort(t)
				startVictoriaLogs(t, victoriaLogsBinary(t), t.TempDir(), addr)
				cfg.VictoriaLogsURL = "http://" + addr
			}
			p, err := Open(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			rt := m.newRuntime(t)
			defer rt.Close()
			acfg := agent.DefaultConfig()
			acfg.ReadinessTimeout = 30 * time.Second
			svc := agent.New(acfg, rt, p.AgentSink(), slog.New(slog.DiscardHandler))

			const containers, invokes, lines, errLines = 4, 3, 300, 5
			client := &http.Client{Timeout: 30 * time.Second}
			type invoke struct{ container, reqID, root string }
			var all []invoke
			var cids []string
			for c := 0; c < containers; c++ {
				w, err := svc.Ensure(ctx, agent.EnsureRequest{Function: "chatty", Project: "logstest", Image: logsTestImage, MemoryMB: 128,
					Env: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "chatty", "AWS_LAMBDA_FUNCTION_TIMEOUT": "10", "ESB_LOG_FORMAT": "json"}})
				if err != nil {
					t.Fatalf("start worker: %v", err)
				}
				cids = append(cids, w.ID)
				for k := 0; k < invokes; k++ {
					reqID := fmt.Sprintf("%s-%d-%d", m.name, c, k)
					root := fmt.Sprintf("1-%08x-%024d", time.Now().Unix(), c*10+k)
					crash := c == containers-1 && k == invokes-1
					event := fmt.Sprintf(`{"lines":%d,"stderr":%d,"json":%t,"exit":%t}`, lines, errLines, k == 0, crash)
					resp, body, err := invokeWorker(ctx, client, w, reqID, "Root="+root+";Parent=53995c3f42cd8ad8;Sampled=1", event)
					if err != nil {
						t.Fatalf("invoke %s: %v", reqID, err)
					}
					if crash != (resp.Header.Get("X-Amz-Function-Error") != "") {
						t.Fatalf("invoke %s: %s %s", reqID, resp.Status, body)
					}
					all = append(all, invoke{w.ID, reqID, root})
				}
				// Destroyed right after its last invoke, as a pool's janitor may.
				if err := svc.Destroy(ctx, w.ID); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if s := p.Stats(); s.Dropped != 0 {
				t.Fatalf("dropped lines: %+v", s)
			}

			r := &Reader{Source: Source{LogDir: logDir}}
			want := containers*invokes*(lines+errLines+3) + containers // + START/END/REPORT per invoke, a JSON line per container, INIT_START…
			var es []Entry
			deadline := time.Now().Add(30 * time.Second)
			for {
				es, err = r.Read(ctx, Query{Names: []string{"chatty"}})
				if err != nil {
					t.Fatal(err)
				}
				if countInvokeLines(es) >= want || time.Now().After(deadline) {
					break
				}
				time.Sleep(300 * time.Millisecond)
			}
			byContainer := map[string][]Entry{}
			seen := map[string]bool{}
			for _, e := range es {
				cid := e.Get(FieldContainerID)
				key := cid + "\x00" + e.Get(FieldMsg) + "\x00" + e.Get(FieldRequestID)
				if seen[key] && e.Get(FieldRequestID) != "" {
					t.Errorf("line twice: %s %q", cid, e.Get(FieldMsg))
				}
				seen[key] = true
				byContainer[cid] = append(byContainer[cid], e)
			}
			for _, inv := range all {
				checkInvoke(t, byContainer[inv.container], inv.reqID, inv.root, lines, errLines, strings.HasSuffix(inv.reqID, "-0"))
			}
			for _, cid := range cids {
				checkInvokeOrder(t, byContainer[cid])
			}
		})
	}
}

// countInvokeLines counts records that belong to an invoke.
func countInvokeLines(es []Entry) int {
	n := 0
	for _, e := range es {
		if e.Get(FieldRequestID) != "" {
			n++
		}
	}
	return n
}

// checkInvoke checks one invoke's records: START first, every stdout and
// stderr line once and in order, END and REPORT last, all with the
// invoke's request id and trace root.
func checkInvoke(t *testing.T, es []Entry, reqID, root string, lines, errLines int, withJSON bool) {
	t.Helper()
	var mine []Entry
	for _, e := range es {
		if e.Get(FieldRequestID) == reqID {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		t.Errorf("%s: no records", reqID)
		return
	}
	if m := mine[0].Get(FieldMsg); !strings.HasPrefix(m, "START RequestId: "+reqID) {
		t.Errorf("%s: first record %q", reqID, m)
	}
	crashed := false
	out, errs, jsonLines := 0, 0, 0
	for _, e := range mine {
		if e.Get(FieldTraceRoot) != root || e.Get(FieldService) != ServiceFunction || e.Get(FieldFunction) != "chatty" || e.Get(FieldProject) != "logstest" {
			t.Errorf("%s: record %q has trace_root %q service %q function %q", reqID, e.Get(FieldMsg), e.Get(FieldTraceRoot), e.Get(FieldService), e.Get(FieldFunction))
			return
		}
		msg := e.Get(FieldMsg)
		switch {
		case strings.HasPrefix(msg, "out "):
			if want := fmt.Sprintf("out %s %d", reqID, out); msg != want || e.Get(FieldStream) != "stdout" || e.Get(FieldLevel) != "info" {
				t.Errorf("%s: stdout line %d is %q (%s, %s)", reqID, out, msg, e.Get(FieldStream), e.Get(FieldLevel))
				return
			}
			out++
		case strings.HasPrefix(msg, "err "):
			if want := fmt.Sprintf("err %s %d", reqID, errs); msg != want || e.Get(FieldStream) != "stderr" || e.Get(FieldLevel) != "error" {
				t.Errorf("%s: stderr line %d is %q (%s, %s)", reqID, errs, msg, e.Get(FieldStream), e.Get(FieldLevel))
				return
			}
			errs++
		case msg == "json "+reqID:
			if e.Get(FieldLevel) != "warn" || e.Get("attrs.n") != "1" {
				t.Errorf("%s: JSON line %+v", reqID, e.Fields)
			}
			jsonLines++
		case strings.Contains(msg, "Runtime exited") || strings.Contains(msg, "Status: error"):
			crashed = true
		}
	}
	if out != lines || errs != errLines || (withJSON && jsonLines != 1) {
		t.Errorf("%s: %d stdout, %d stderr, %d JSON lines; want %d, %d, %v", reqID, out, errs, jsonLines, lines, errLines, withJSON)
	}
	last := mine[len(mine)-1].Get(FieldMsg)
	if !strings.HasPrefix(last, "REPORT RequestId: "+reqID) {
		t.Errorf("%s: last record %q (crashed %v)", reqID, last, crashed)
	}
}

// checkInvokeOrder checks that a container's invokes do not interleave.
func checkInvokeOrder(t *testing.T, es []Entry) {
	t.Helper()
	done := map[string]bool{}
	cur := ""
	for _, e := range es {
		id := e.Get(FieldRequestID)
		if id == "" || id == cur {
			continue
		}
		if done[id] {
			t.Errorf("records of %s after those of %s", id, cur)
			return
		}
		if cur != "" {
			done[cur] = true
		}
		cur = id
	}
}
