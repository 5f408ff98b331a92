package logs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// VictoriaLogs, pinned: the version scripts/install-victorialogs.sh installs
// with `go install` from the Go module proxy.
const (
	VictoriaLogsModule  = "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs"
	VictoriaLogsVersion = "v1.52.1"
	// VictoriaLogsAddr is where `esb up` runs it (docs/contracts.md).
	VictoriaLogsAddr = "127.0.0.1:9428"
)

// FindVictoriaLogs returns the victoria-logs binary to run, looked up as
// docs/contracts.md says: $VICTORIALOGS_BIN, then victoria-logs beside the
// esb binary, then $(go env GOPATH)/bin, then PATH. It returns "" when there
// is none or VICTORIALOGS_BIN is "off" (the pipeline then uses the local store).
func FindVictoriaLogs(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if p := getenv("VICTORIALOGS_BIN"); strings.EqualFold(p, "off") {
		return ""
	} else if p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "victoria-logs"); isExecutable(p) {
			return p
		}
	}
	gopath := getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	if gopath == "" {
		if home := getenv("HOME"); home != "" {
			gopath = filepath.Join(home, "go")
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		if p := filepath.Join(dir, "bin", "victoria-logs"); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath("victoria-logs"); err == nil {
		return p
	}
	return ""
}

func isExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}

// VictoriaLogsArgs are the arguments `esb up` runs victoria-logs with.
func VictoriaLogsArgs(dataDir, addr string) []string {
	return []string{"-storageDataPath=" + dataDir, "-httpListenAddr=" + addr}
}

// victoriaLogs talks to one VictoriaLogs over HTTP: the JSON-lines
// ingestion API, /select/logsql/query and /select/logsql/tail.
type victoriaLogs struct {
	base   string // http://host:port, no trailing slash
	client *http.Client
	insert string
}

func newVictoriaLogs(rawURL string) (*victoriaLogs, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("VICTORIALOGS_URL %q is not an http(s) URL like http://127.0.0.1:9428", rawURL)
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback or a known log cluster: never a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	base := u.String()
	return &victoriaLogs{base: base, client: &http.Client{Transport: tr},
		insert: base + "/insert/jsonline?_stream_fields=" + StreamFields + "&_time_field=" + FieldTime + "&_msg_field=" + FieldMsg}, nil
}

func (v *victoriaLogs) name() string { return "victorialogs" }

// send ingests a batch of JSON lines.
func (v *victoriaLogs) send(ctx context.Context, batch []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.insert, bytes.NewReader(batch))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/stream+json")
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("send logs to VictoriaLogs at %s: %w", v.base, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("send logs to VictoriaLogs at %s: %s: %s", v.base, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

func (v *victoriaLogs) close() error {
	v.client.CloseIdleConnections()
	return nil
}

// health checks GET /health.
func (v *victoriaLogs) health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("VictoriaLogs at %s does not answer: %w", v.base, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("VictoriaLogs at %s: /health answered %s", v.base, resp.Status)
	}
	return nil
}

// query runs a LogsQL query and calls fn with each returned line (a JSON
// object). limit > 0 returns the limit most recent matches.
func (v *victoriaLogs) query(ctx context.Context, logsql string, limit int, start time.Time, fn func(line []byte) error) error {
	form := url.Values{"query": {logsql}}
	if limit > 0 {
		form.Set("limit", strconv.Itoa(limit))
	}
	if !start.IsZero() {
		form.Set("start", start.UTC().Format(time.RFC3339Nano))
	}
	return v.stream(ctx, "/select/logsql/query", form, fn)
}

// tail follows a LogsQL query live; startOffset also returns what arrived
// within that duration before now.
func (v *victoriaLogs) tail(ctx context.Context, logsql string, startOffset time.Duration, fn func(line []byte) error) error {
	form := url.Values{"query": {logsql}, "offset": {"1s"}, "refresh_interval": {"500ms"}}
	if startOffset > 0 {
		form.Set("start_offset", strconv.FormatInt(startOffset.Milliseconds(), 10)+"ms")
	}
	return v.stream(ctx, "/select/logsql/tail", form, fn)
}

func (v *victoriaLogs) stream(ctx context.Context, path string, form url.Values, fn func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("query VictoriaLogs at %s: %w", v.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("query VictoriaLogs at %s: %s: %s", v.base, resp.Status, bytes.TrimSpace(body))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read VictoriaLogs answer: %w", err)
	}
	return nil
}
