package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/logs"
)

// fillLogs writes a project's log directory as its daemons would.
func fillLogs(t *testing.T, logDir string) {
	t.Helper()
	p, err := logs.Open(logs.Config{Service: "agent", Dir: logDir, FlushInterval: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		level := "info"
		if i == 3 {
			level = "error"
		}
		line := fmt.Sprintf(`{"time":"%s","type":"function","level":"%s","function":"hello","request_id":"req-%d","trace_id":"Root=1-00000000-00000000000000000000000%d","stream":"stdout","message":"line %d"}`,
			time.Now().UTC().Format(time.RFC3339Nano), level, i, i, i)
		p.AgentSink().WriteLine(agent.LogLine{Function: "hello", Project: "demo", ContainerID: "c1", Stream: "stdout", Time: time.Now(), Text: []byte(line)})
	}
	p.Close()
	logger, gp, err := logs.Setup(logs.Config{Service: "gateway", Dir: logDir, FlushInterval: time.Millisecond}, slog.DiscardHandler)
	if err != nil {
		t.Fatal(err)
	}
	_ = logger
	fmt.Fprintf(gp.Writer(nil), `{"time":"%s","level":"WARN","msg":"slow agent","component":"gateway","ms":900}`+"\n", time.Now().UTC().Format(time.RFC3339Nano))
	gp.Close()
}

func TestLogsCommand(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	t.Setenv("ESB_LOG_DIR", dir)
	t.Setenv("VICTORIALOGS_URL", "")
	fillLogs(t, dir)

	out, _, err := runESB(t, nil, "logs")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 6 || lines[0] != "hello        | line 0" ||
		lines[5] != "gateway      | WARN slow agent ms=900" {
		t.Errorf("esb logs:\n%s", out)
	}
	out, _, _ = runESB(t, nil, "logs", "hello", "--tail", "2")
	if out != "hello        | line 3\nhello        | line 4\n" {
		t.Errorf("--tail 2 hello:\n%s", out)
	}
	out, _, _ = runESB(t, nil, "logs", "--level", "warn", "--json")
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, `"_msg":"line 3"`) || !strings.Contains(out, `"ms":"900"`) {
		t.Errorf("--level warn --json:\n%s", out)
	}
	out, _, _ = runESB(t, nil, "logs", "--request-id", "req-2", "--timestamps")
	if !strings.HasSuffix(out, " hello        | line 2\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("--request-id --timestamps:\n%s", out)
	}
	out, _, _ = runESB(t, nil, "logs", "--trace-id", "Root=1-00000000-000000000000000000000001;Parent=2")
	if out != "hello        | line 1\n" {
		t.Errorf("--trace-id:\n%s", out)
	}
	out, _, _ = runESB(t, nil, "logs", "--since", "1h", "--tail", "0")
	if out != "" {
		t.Errorf("--tail 0:\n%s", out)
	}
	for _, bad := range [][]string{{"--tail", "x"}, {"--since", "soon"}, {"--level", "loud"}} {
		_, _, err := runESB(t, nil, append([]string{"logs"}, bad...)...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("esb logs %v: %v", bad, err)
		}
	}
}

// Without ESB_LOG_DIR, esb logs reads <output_dir>/state/logs of the project.
func TestLogsCommandFindsTheProject(t *testing.T) {
	isolate(t)
	t.Setenv("ESB_LOG_DIR", "")
	t.Setenv("VICTORIALOGS_URL", "")
	proj := copyProject(t, filepath.Join(packageDir, "../../examples/hello-python"), "hello-python")
	t.Chdir(proj)
	_, _, err := runESB(t, nil, "logs")
	if err == nil || !strings.Contains(err.Error(), "start it with `esb up`") {
		t.Errorf("no logs yet: %v", err)
	}
	logDir := filepath.Join(proj, ".esb", "state", "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fillLogs(t, logDir)
	out, _, err := runESB(t, nil, "logs", "gateway")
	if err != nil || out != "gateway      | WARN slow agent ms=900\n" {
		t.Errorf("esb logs gateway: %v\n%s", err, out)
	}
}
