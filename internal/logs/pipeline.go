package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// Environment variables of the pipeline (docs/logs.md).
const (
	EnvService         = "ESB_SERVICE"
	EnvLogDir          = "ESB_LOG_DIR"
	EnvVictoriaLogsURL = "VICTORIALOGS_URL"
	EnvBufferMB        = "ESB_LOG_BUFFER_MB"
	EnvStoreMB         = "ESB_LOG_STORE_MB"
	EnvFileMB          = "ESB_LOG_FILE_MB"
	EnvMaxAge          = "ESB_LOG_MAX_AGE"
)

// Config is one daemon's log pipeline.
type Config struct {
	// Service names the daemon: gateway, agent, dynamodb, s3.
	Service string
	// Dir is the log directory (<state>/logs): the local store, the disk
	// buffer and the metrics file live under it. Empty: no disk buffer and
	// no local store.
	Dir string
	// VictoriaLogsURL, when set, is where records go; else the local store.
	VictoriaLogsURL string

	// MemoryBytes is how much the memory buffer holds before records spill
	// to the disk buffer.
	MemoryBytes int
	// BufferBytes bounds the disk buffer (records waiting for VictoriaLogs).
	BufferBytes int64
	// StoreBytes bounds the local store of this service; StoreFileBytes is
	// where a file of it is closed and the next begun; StoreMaxAge is how
	// long files are kept (0: no age limit). Zero sizes mean the defaults.
	StoreBytes     int64
	StoreFileBytes int64
	StoreMaxAge    time.Duration
	// FlushInterval is how often records are handed to the store.
	FlushInterval time.Duration
	// CloseTimeout bounds Close's last delivery; what is left stays in the
	// disk buffer for the next start.
	CloseTimeout time.Duration

	err error // a malformed environment variable, reported by Open
}

// DefaultConfig is the configuration of a service with nothing set: no
// pipeline (Enabled is false) until Dir or VictoriaLogsURL is set.
func DefaultConfig(service string) Config {
	return Config{
		Service:        service,
		MemoryBytes:    4 << 20,
		BufferBytes:    256 << 20,
		StoreBytes:     256 << 20,
		StoreFileBytes: 16 << 20,
		StoreMaxAge:    7 * 24 * time.Hour,
		FlushInterval:  200 * time.Millisecond,
		CloseTimeout:   5 * time.Second,
	}
}

// FromEnv reads the pipeline's configuration from the environment that
// `esb up` gives every daemon: ESB_SERVICE (else service), ESB_LOG_DIR,
// VICTORIALOGS_URL and the limits. A malformed value makes Open (and Setup)
// fail, naming the variable.
func FromEnv(service string) Config {
	return ConfigFromEnv(service, os.Getenv)
}

// ConfigFromEnv is FromEnv with another source of variables.
func ConfigFromEnv(service string, getenv func(string) string) Config {
	c := DefaultConfig(service)
	if s := getenv(EnvService); s != "" {
		c.Service = s
	}
	c.Dir = getenv(EnvLogDir)
	c.VictoriaLogsURL = getenv(EnvVictoriaLogsURL)
	var errs []error
	mb := func(name string, dst *int64) {
		v := getenv(name)
		if v == "" {
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s=%q must be a whole number of MB, at least 1", name, v))
			return
		}
		*dst = n << 20
	}
	mb(EnvBufferMB, &c.BufferBytes)
	mb(EnvStoreMB, &c.StoreBytes)
	mb(EnvFileMB, &c.StoreFileBytes)
	if v := getenv(EnvMaxAge); v != "" {
		d, err := ParseAge(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvMaxAge, v, err))
		}
		c.StoreMaxAge = d
	}
	c.err = errors.Join(errs...)
	return c
}

// ParseAge reads a duration that may be in days: "7d", "36h", "90m", "0"
// (no limit).
func ParseAge(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("want a duration like 7d, 36h or 90m")
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur < 0 {
		return 0, fmt.Errorf("want a duration like 7d, 36h or 90m")
	}
	return dur, nil
}

// Enabled reports whether the configuration has somewhere to put records.
func (c Config) Enabled() bool { return c.Dir != "" || c.VictoriaLogsURL != "" }

// Each service keeps its files in a directory of its own under the log
// directory, <log dir>/<service>/, which it creates itself: `esb up` makes
// the log directory writable for the gateway's user, and nothing of one
// service has to be shared with another.

// StoreDir is where a service's local store lives under a log directory.
func StoreDir(logDir, service string) string { return filepath.Join(logDir, service, "store") }

// BufferDir is where a service's disk buffer lives under a log directory.
func BufferDir(logDir, service string) string { return filepath.Join(logDir, service, "buffer") }

// MetricsFile is a service's metrics file (Prometheus text format, for
// node_exporter's textfile collector) under a log directory.
func MetricsFile(logDir, service string) string {
	return filepath.Join(logDir, service, "metrics.prom")
}

// markerFile records, in a service's store directory, the VictoriaLogs its
// records go to, so `esb logs` knows where to look.
const markerFile = "victorialogs.url"

// Pipeline is one daemon's log pipeline. A nil *Pipeline is valid and does
// nothing (no log directory, no VictoriaLogs).
type Pipeline struct {
	cfg Config
	q   *queue
	st  store
}

// Open starts a pipeline. diag (nil: discarded) receives the pipeline's
// own warnings: store unreachable, lines dropped.
func Open(cfg Config, diag *slog.Logger) (*Pipeline, error) {
	p, err := open(cfg)
	if err != nil {
		return nil, err
	}
	if diag == nil {
		diag = slog.New(slog.DiscardHandler)
	}
	p.q.start(diag)
	return p, nil
}

func open(cfg Config) (*Pipeline, error) {
	if cfg.err != nil {
		return nil, cfg.err
	}
	if cfg.Service == "" {
		return nil, errors.New("log pipeline: no service name (ESB_SERVICE)")
	}
	d := DefaultConfig(cfg.Service)
	if cfg.MemoryBytes <= 0 {
		cfg.MemoryBytes = d.MemoryBytes
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = d.FlushInterval
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = d.CloseTimeout
	}
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = d.BufferBytes
	}
	if cfg.StoreBytes <= 0 {
		cfg.StoreBytes = d.StoreBytes
	}
	if cfg.StoreFileBytes <= 0 {
		cfg.StoreFileBytes = d.StoreFileBytes
	}
	p := &Pipeline{cfg: cfg}
	var sp *spool
	storeDir := ""
	if cfg.Dir != "" {
		storeDir = StoreDir(cfg.Dir, cfg.Service)
		if err := mkdirUnder(cfg.Dir, storeDir); err != nil {
			return nil, fmt.Errorf("log directory %s (%s): %w; it must be writable by the %s service", cfg.Dir, EnvLogDir, err, cfg.Service)
		}
	}
	if cfg.VictoriaLogsURL != "" {
		vl, err := newVictoriaLogs(cfg.VictoriaLogsURL)
		if err != nil {
			return nil, err
		}
		p.st = vl
		if cfg.Dir != "" {
			if err := manifest.WriteFileAtomic(filepath.Join(storeDir, markerFile), []byte(vl.base+"\n"), 0o644); err != nil {
				return nil, fmt.Errorf("log directory %s: %w", cfg.Dir, err)
			}
		}
	} else {
		ls, err := openLocalStore(storeDir, cfg.StoreFileBytes, cfg.StoreBytes, cfg.StoreMaxAge)
		if err != nil {
			return nil, err
		}
		p.st = ls
		os.Remove(filepath.Join(storeDir, markerFile))
	}
	// The disk buffer: records VictoriaLogs has not taken (it is down or
	// slow), or a burst the local store's writer has not caught up with.
	if cfg.Dir != "" {
		if err := mkdirUnder(cfg.Dir, BufferDir(cfg.Dir, cfg.Service)); err != nil {
			return nil, fmt.Errorf("log directory %s (%s): %w; it must be writable by the %s service", cfg.Dir, EnvLogDir, err, cfg.Service)
		}
		var err error
		if sp, err = openSpool(BufferDir(cfg.Dir, cfg.Service), cfg.BufferBytes, min(8<<20, max(cfg.BufferBytes/8, 64<<10))); err != nil {
			return nil, err
		}
	}
	qc := queueConfig{
		memBytes:      cfg.MemoryBytes,
		batchBytes:    min(cfg.MemoryBytes/4, 1<<20),
		flushInterval: cfg.FlushInterval,
		closeTimeout:  cfg.CloseTimeout,
		retryMin:      250 * time.Millisecond,
		retryMax:      5 * time.Second,
	}
	if cfg.Dir != "" {
		qc.onTick = p.writeMetrics
	}
	p.q = newQueue(qc, p.st, sp)
	return p, nil
}

// Setup is a daemon's one call at start: it opens the pipeline that cfg
// describes and returns a logger writing to h (the daemon's stderr, as
// before) and into the pipeline. Without a log directory or VictoriaLogs
// the logger is slog.New(h) and the pipeline nil. Close the pipeline when
// the daemon stops.
func Setup(cfg Config, h slog.Handler) (*slog.Logger, *Pipeline, error) {
	if cfg.err != nil {
		return nil, nil, cfg.err
	}
	if !cfg.Enabled() {
		return slog.New(h), nil, nil
	}
	p, err := open(cfg)
	if err != nil {
		return nil, nil, err
	}
	logger := slog.New(teeHandler{a: h, b: p.Handler()})
	p.q.start(logger) // warnings about the store go into the store too
	return logger, p, nil
}

// Close delivers what is buffered (within CloseTimeout; the rest stays in
// the disk buffer for the next start) and stops the pipeline.
func (p *Pipeline) Close() error {
	if p == nil {
		return nil
	}
	p.q.close()
	return p.st.close()
}

// Stats returns the pipeline's counters.
func (p *Pipeline) Stats() Stats {
	if p == nil {
		return Stats{}
	}
	return p.q.stats()
}

// StoreName is "victorialogs" or "local".
func (p *Pipeline) StoreName() string {
	if p == nil {
		return ""
	}
	return p.st.name()
}

// AgentSink returns the agent's LogSink feeding this pipeline: every line
// of every worker becomes a record of service "function" (nil when p is
// nil, so the agent keeps its default sink).
func (p *Pipeline) AgentSink() agent.LogSink {
	if p == nil {
		return nil
	}
	return agentSink{q: p.q}
}

type agentSink struct{ q *queue }

// WriteLine implements agent.LogSink. It copies the line and returns at
// once; it never waits for the store.
func (s agentSink) WriteLine(l agent.LogLine) {
	src := rawSource{service: ServiceFunction, function: l.Function, project: l.Project,
		containerID: l.ContainerID, stream: l.Stream, read: l.Time, expand: true, stderr: l.Stream == "stderr"}
	if src.read.IsZero() {
		src.read = time.Now()
	}
	s.q.add(&src, l.Text)
}

// Handler returns a slog.Handler writing records into the pipeline (as the
// daemon's service), at every level.
func (p *Pipeline) Handler() slog.Handler {
	if p == nil {
		return slog.DiscardHandler
	}
	return slog.NewJSONHandler(lineWriter{q: p.q, service: p.cfg.Service}, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration { // "30s", as the text handler shows it, not nanoseconds
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}})
}

// Writer returns a writer that passes everything to w and also takes each
// line written (JSON objects such as the gateway's access log, or text)
// into the pipeline. Each Write must hold whole lines. With a nil pipeline
// it returns w.
func (p *Pipeline) Writer(w io.Writer) io.Writer {
	if p == nil {
		return w
	}
	lw := lineWriter{q: p.q, service: p.cfg.Service}
	if w == nil || w == io.Discard {
		return lw
	}
	return teeWriter{w: w, lw: lw}
}

// lineWriter takes whole lines into the pipeline.
type lineWriter struct {
	q       *queue
	service string
}

func (w lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	now := time.Now()
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) == 0 {
			continue
		}
		src := rawSource{service: w.service, read: now}
		w.q.add(&src, line)
	}
	return n, nil
}

type teeWriter struct {
	w  io.Writer
	lw lineWriter
}

func (t teeWriter) Write(b []byte) (int, error) {
	t.lw.Write(b)
	return t.w.Write(b)
}

// teeHandler sends records to two handlers: the daemon's own (which decides
// the level) and the pipeline's.
type teeHandler struct{ a, b slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return t.a.Enabled(ctx, l) }

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	errA := t.a.Handle(ctx, r.Clone())
	errB := t.b.Handle(ctx, r)
	return errors.Join(errA, errB)
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{a: t.a.WithAttrs(as), b: t.b.WithAttrs(as)}
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{a: t.a.WithGroup(name), b: t.b.WithGroup(name)}
}

// writeMetrics writes the metrics file (Prometheus text format).
func (p *Pipeline) writeMetrics() {
	s := p.q.stats()
	svc := strconv.Quote(p.cfg.Service)
	st := strconv.Quote(p.st.name())
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP esb_log_lines_total Log records handed to the pipeline.\n# TYPE esb_log_lines_total counter\nesb_log_lines_total{service=%s} %d\n", svc, s.Lines)
	fmt.Fprintf(&b, "# HELP esb_log_lines_delivered_total Log records the store took.\n# TYPE esb_log_lines_delivered_total counter\nesb_log_lines_delivered_total{service=%s,store=%s} %d\n", svc, st, s.Delivered)
	fmt.Fprintf(&b, "# HELP esb_log_lines_dropped_total Log records dropped because the log buffer was full.\n# TYPE esb_log_lines_dropped_total counter\nesb_log_lines_dropped_total{service=%s} %d\n", svc, s.Dropped)
	fmt.Fprintf(&b, "# HELP esb_log_buffer_bytes Bytes waiting in the disk buffer.\n# TYPE esb_log_buffer_bytes gauge\nesb_log_buffer_bytes{service=%s} %d\n", svc, s.BufferedBytes)
	fmt.Fprintf(&b, "# HELP esb_log_store_errors_total Failed deliveries to the store (each is retried).\n# TYPE esb_log_store_errors_total counter\nesb_log_store_errors_total{service=%s,store=%s} %d\n", svc, st, s.StoreErrors)
	path := MetricsFile(p.cfg.Dir, p.cfg.Service)
	if err := mkdirUnder(p.cfg.Dir, filepath.Dir(path)); err != nil {
		return
	}
	_ = manifest.WriteFileAtomic(path, []byte(b.String()), 0o644)
}

// mkdirUnder creates dir and its missing parents below root, each with the
// mode and group of root (`esb up` makes the log directory group-writable
// for the gateway's user: what the gateway makes stays readable by root's
// tools, what root makes stays open to that group).
func mkdirUnder(root, dir string) error {
	info, err := os.Stat(root)
	if err != nil {
		return os.MkdirAll(dir, 0o755)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return os.MkdirAll(dir, 0o755)
	}
	perm := info.Mode().Perm() | 0o700
	gid := -1
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		gid = int(st.Gid)
	}
	cur := root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if part == "." || part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, perm)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		os.Chmod(cur, perm) // past the umask
		if gid >= 0 {
			os.Chown(cur, -1, gid)
		}
	}
	return nil
}
