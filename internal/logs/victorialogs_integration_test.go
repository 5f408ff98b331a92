package logs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/agent"
)

// integration skips unless ESB_E2E=1.
func integration(t testing.TB) {
	t.Helper()
	if os.Getenv("ESB_E2E") != "1" {
		t.Skip("integration test: set ESB_E2E=1")
	}
}

var (
	vlOnce sync.Once
	vlBin  string
	vlErr  error
)

// victoriaLogsBinary finds victoria-logs as esb does, installing it with
// scripts/install-victorialogs.sh (go install, pinned) when it is missing.
func victoriaLogsBinary(t testing.TB) string {
	t.Helper()
	// VICTORIALOGS_BIN=off (which keeps `esb up` from running one) does
	// not apply to these tests.
	getenv := func(k string) string {
		if v := os.Getenv(k); !(k == "VICTORIALOGS_BIN" && v == "off") {
			return v
		}
		return ""
	}
	vlOnce.Do(func() {
		if vlBin = FindVictoriaLogs(getenv); vlBin != "" {
			return
		}
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "install-victorialogs.sh")
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "sh", script).CombinedOutput(); err != nil {
			vlErr = fmt.Errorf("install victoria-logs: %v\n%s", err, out)
			return
		}
		if vlBin = FindVictoriaLogs(getenv); vlBin == "" {
			vlErr = fmt.Errorf("victoria-logs installed but not found")
		}
	})
	if vlErr != nil {
		t.Fatal(vlErr)
	}
	return vlBin
}

// vlProcess is one running victoria-logs.
type vlProcess struct {
	cmd  *exec.Cmd
	addr string
	out  *strings.Builder
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startVictoriaLogs runs victoria-logs as `esb up` does and waits for /health.
func startVictoriaLogs(t testing.TB, bin, dataDir, addr string) *vlProcess {
	t.Helper()
	p := &vlProcess{addr: addr, out: &strings.Builder{}}
	p.cmd = exec.Command(bin, append(VictoriaLogsArgs(dataDir, addr), "-loggerLevel=WARN")...)
	w := &syncWriter{w: p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("victoria-logs did not become healthy: %v\n%s", err, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *vlProcess) stop() {
	if p.cmd.ProcessState != nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// rieLine is an esb-rie JSON output line.
func rieLine(fn, typ, level, req, trace, msg string) []byte {
	return fmt.Appendf(nil, `{"time":"%s","type":"%s","level":"%s","function":"%s","request_id":"%s","trace_id":"%s","stream":"stdout","message":%q}`,
		time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), typ, level, fn, req, trace, msg)
}

// readUntil queries until n records arrive (VictoriaLogs makes ingested
// records searchable within about a second).
func readUntil(t *testing.T, r *Reader, q Query, n int) []Entry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		es, err := r.Read(context.Background(), q)
		if err == nil && len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %+v: %d records (want %d), err %v", q, len(es), n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkSequence(t *testing.T, es []Entry, prefix string, n int) {
	t.Helper()
	var got []string
	for _, e := range es {
		if m := e.Get(FieldMsg); strings.HasPrefix(m, prefix) {
			got = append(got, m)
		}
	}
	if len(got) != n {
		t.Fatalf("%d %q lines, want %d", len(got), prefix, n)
	}
	for i, m := range got {
		if want := fmt.Sprintf("%s%05d", prefix, i); m != want {
			t.Fatalf("line %d is %q, want %q", i, m, want)
		}
	}
}

// TestIntegrationVictoriaLogs runs the real victoria-logs: records go in
// with the JSON-lines API and stream fields; queries give the same answers
// as the local store; while it is down records wait in the disk buffer
// (and `esb logs` shows them from there), and arrive once it is back —
// every line exactly once, in order.
func TestIntegrationVictoriaLogs(t *testing.T) {
	integration(t)
	bin := victoriaLogsBinary(t)
	dataDir := t.TempDir()
	addr := freePort(t)
	vl := startVictoriaLogs(t, bin, dataDir, addr)
	url := "http://" + addr

	logDir := t.TempDir()
	p, err := Open(Config{Service: "agent", Dir: logDir, VictoriaLogsURL: url, FlushInterval: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := p.AgentSink()
	write := func(prefix string, from, to int) {
		for i := from; i < to; i++ {
			req := fmt.Sprintf("%s-req-%d", prefix, i/10)
			trace := fmt.Sprintf("Root=1-00000000-%024d;Parent=1;Sampled=1", i/10)
			level := "info"
			if i%10 == 9 {
				level = "error"
			}
			sink.WriteLine(agent.LogLine{Function: "chatty", Project: "vl", ContainerID: "c-" + prefix, Stream: "stdout", Time: time.Now(),
				Text: rieLine("chatty", "function", level, req, trace, fmt.Sprintf("%s%05d", prefix, i))})
		}
	}
	write("up-", 0, 2000)
	r := &Reader{Source: Source{LogDir: logDir}}
	es := readUntil(t, r, Query{}, 2000)
	checkSequence(t, es, "up-", 2000)
	if es[0].Get(FieldService) != "function" || es[0].Get(FieldFunction) != "chatty" || es[0].Get(FieldContainerID) != "c-up-" ||
		es[0].Get(FieldTraceRoot) != "1-00000000-000000000000000000000000" || es[0].Get(FieldRequestID) != "up--req-0" {
		t.Errorf("first record: %+v", es[0])
	}
	// Stream fields: service and function.
	if err := (&victoriaLogs{base: url, client: http.DefaultClient}).query(context.Background(), `_stream:{service="function",function="chatty"}`, 1, time.Time{},
		func([]byte) error { return nil }); err != nil {
		t.Errorf("stream query: %v", err)
	}

	// The same filters against VictoriaLogs (LogsQL) and a local store
	// holding the same records give the same records.
	localDir := t.TempDir()
	var stored []byte
	for _, e := range es {
		stored = appendEntryJSON(stored, &e)
	}
	os.MkdirAll(StoreDir(localDir, "agent"), 0o755)
	if err := os.WriteFile(filepath.Join(StoreDir(localDir, "agent"), "20260101T000000.000000000Z.jsonl"), stored, 0o644); err != nil {
		t.Fatal(err)
	}
	local := &Reader{Source: Source{LogDir: localDir}}
	for _, q := range []Query{
		{TraceID: "Root=1-00000000-000000000000000000000007;Parent=5"},
		{RequestID: "up--req-42"},
		{Level: "error", Tail: 5},
		{Names: []string{"chatty"}, Tail: 3},
		{Names: []string{"gateway"}},
	} {
		a, err := r.Read(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := local.Read(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if ma, mb := msgsOf(a), msgsOf(b); !slices.Equal(ma, mb) {
			t.Errorf("query %+v:\n victorialogs %v\n local        %v", q, ma, mb)
		}
		if len(a) > 0 {
			fa, fb := string(Format{JSON: true}.AppendEntry(nil, &a[0])), string(Format{JSON: true}.AppendEntry(nil, &b[0]))
			if fa != fb {
				t.Errorf("--json output differs:\n victorialogs %s local        %s", fa, fb)
			}
		}
	}

	// Down for a while: nothing blocks, lines wait on disk.
	vl.stop()
	start := time.Now()
	write("down-", 0, 3000)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("writing 3000 lines with VictoriaLogs down took %v", d)
	}
	waitUntil(t, "lines in the disk buffer", 10*time.Second, func() bool {
		s := p.Stats()
		return s.BufferedBytes > 0 && s.StoreErrors > 0
	})
	var warned []string
	rdown := &Reader{Source: Source{LogDir: logDir}, Warn: func(m string) { warned = append(warned, m) }}
	es = readUntil(t, rdown, Query{}, 3000) // within a flush interval, all are on disk
	checkSequence(t, es, "down-", 3000)
	if len(warned) == 0 || !strings.Contains(warned[0], "does not answer") {
		t.Errorf("no warning that VictoriaLogs is down: %q", warned)
	}

	// Back: everything arrives, exactly once, in order.
	startVictoriaLogs(t, bin, dataDir, addr)
	write("back-", 0, 500)
	es = readUntil(t, r, Query{}, 5500)
	checkSequence(t, es, "up-", 2000)
	checkSequence(t, es, "down-", 3000)
	checkSequence(t, es, "back-", 500)
	if len(es) != 5500 {
		t.Errorf("%d records, want 5500", len(es))
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Dropped != 0 || s.Delivered != 5500 || s.BufferedBytes != 0 {
		t.Errorf("stats %+v", s)
	}
	if b, _ := os.ReadFile(MetricsFile(logDir, "agent")); !strings.Contains(string(b), `esb_log_lines_dropped_total{service="agent"} 0`) {
		t.Errorf("metrics file:\n%s", b)
	}
}

// TestIntegrationVictoriaLogsFollow follows VictoriaLogs live.
func TestIntegrationVictoriaLogsFollow(t *testing.T) {
	integration(t)
	addr := freePort(t)
	startVictoriaLogs(t, victoriaLogsBinary(t), t.TempDir(), addr)
	logDir := t.TempDir()
	logger, p, err := Setup(Config{Service: "gateway", Dir: logDir, VictoriaLogsURL: "http://" + addr, FlushInterval: 20 * time.Millisecond},
		slog.NewTextHandler(io.Discard, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	logger.Info("before follow")
	r := &Reader{Source: Source{LogDir: logDir}}
	es := readUntil(t, r, Query{Names: []string{"gateway"}}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan string, 100)
	go r.Follow(ctx, Query{Names: []string{"gateway"}}, es[len(es)-1].Time, func(e *Entry) { got <- e.Get(FieldMsg) })
	time.Sleep(500 * time.Millisecond)
	for i := 0; i < 5; i++ {
		logger.Info(fmt.Sprintf("followed %d", i))
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		select {
		case m := <-got:
			if want := fmt.Sprintf("followed %d", i); m != want {
				t.Fatalf("followed %q, want %q", m, want)
			}
		case <-ctx.Done():
			t.Fatalf("followed %d of 5 lines", i)
		}
	}
}

func msgsOf(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Get(FieldMsg))
	}
	return out
}
