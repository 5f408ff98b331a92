package logs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeserverlessbox/esb/internal/agent"
)

// The local store closes a file at its size limit, keeps the directory
// under its total limit by deleting the oldest files, and deletes files
// past the age limit.
func TestLocalStoreRotatesAtItsLimit(t *testing.T) {
	dir := t.TempDir()
	s, err := openLocalStore(dir, 10<<10, 40<<10, 0)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	s.now = func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	line := []byte(`{"_time":"2026-11-27T16:00:00Z","service":"gateway","_msg":"` + strings.Repeat("x", 980) + `"}` + "\n") // 1 KiB
	for i := 0; i < 200; i++ {
		if err := s.send(context.Background(), line); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := storeFiles(dir)
	var total int64
	for _, f := range files {
		total += f.size
		if f.size > 10<<10 {
			t.Errorf("%s is %d bytes, over the 10 KiB file limit", filepath.Base(f.path), f.size)
		}
	}
	if total > 40<<10+10<<10 || len(files) < 4 || len(files) > 5 {
		t.Errorf("%d files, %d bytes: the 40 KiB limit was not kept", len(files), total)
	}
	// The newest records are the ones kept.
	last, _ := os.ReadFile(files[len(files)-1].path)
	if !bytes.HasSuffix(last, line) {
		t.Error("the newest file does not end with the newest record")
	}

	// Age: files older than the limit go at the next rotation.
	s.maxAge = time.Hour
	old := time.Now().Add(-2 * time.Hour)
	for _, f := range files[:len(files)-1] {
		os.Chtimes(f.path, old, old)
	}
	s.trim(time.Now())
	files2, _ := storeFiles(dir)
	if len(files2) != 1 {
		t.Errorf("after the age limit %d files remain, want the current one", len(files2))
	}
	s.close()

	// A restart continues the newest file while it has room.
	s2, err := openLocalStore(dir, 10<<10, 40<<10, 0)
	if err != nil {
		t.Fatal(err)
	}
	s2.send(context.Background(), line)
	s2.close()
	if files3, _ := storeFiles(dir); len(files3) != len(files2) {
		t.Errorf("restart began a new file: %d files, want %d", len(files3), len(files2))
	}
}

// writeStore fills a log directory through real pipelines, as the daemons
// of a project would.
func writeStore(t *testing.T, dir string) {
	t.Helper()
	agentP, err := Open(Config{Service: "agent", Dir: dir, StoreBytes: 1 << 20, StoreFileBytes: 4 << 10, FlushInterval: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := agentP.AgentSink()
	rie := func(fn, cid, typ, level, req, trace, msg string) {
		line := fmt.Sprintf(`{"time":"%s","type":"%s","level":"%s","function":"%s","request_id":"%s","trace_id":"%s","stream":"stdout","message":%q}`,
			time.Now().UTC().Format(time.RFC3339Nano), typ, level, fn, req, trace, msg)
		sink.WriteLine(agent.LogLine{Function: fn, Project: "demo", ContainerID: cid, Stream: "stdout", Time: time.Now(), Text: []byte(line)})
	}
	for i := 0; i < 20; i++ {
		req := fmt.Sprintf("req-%02d", i)
		trace := fmt.Sprintf("Root=1-00000000-%024d;Parent=1;Sampled=1", i%5)
		rie("hello", "c-hello", "platform.start", "info", req, trace, "START RequestId: "+req)
		rie("hello", "c-hello", "function", "info", req, trace, "working on "+req)
		if i%4 == 0 {
			rie("hello", "c-hello", "function", "error", req, trace, "failed "+req)
		}
		rie("hello", "c-hello", "platform.end", "info", req, trace, "END RequestId: "+req)
		time.Sleep(3 * time.Millisecond) // several batches, so the store rotates
	}
	rie("other", "c-other", "function", "warn", "req-x", "Root=1-00000000-000000000000000000000003", "other function")
	if err := agentP.Close(); err != nil {
		t.Fatal(err)
	}

	logger, gw, err := Setup(Config{Service: "gateway", Dir: dir, FlushInterval: time.Millisecond}, slog.NewJSONHandler(&bytes.Buffer{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("gateway started", "component", "gateway", "port", 8080)
	logger.Error("worker start failed", "function", "hello", "err", "image missing")
	fmt.Fprintf(gw.Writer(nil), `{"time":"%s","level":"INFO","msg":"request","type":"access","request_id":"req-03","trace_id":"Root=1-00000000-000000000000000000000003","method":"GET","path":"/hello","status":200,"latency_ms":1.5,"function":"hello","cold":false}`+"\n",
		time.Now().UTC().Format(time.RFC3339Nano))
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestQueryLocalStore(t *testing.T) {
	dir := t.TempDir()
	writeStore(t, dir)
	if files, _ := storeFiles(StoreDir(dir, "agent")); len(files) < 2 {
		t.Fatalf("agent store has %d files; the test wants rotation", len(files))
	}
	r := &Reader{Source: Source{LogDir: dir}}
	read := func(q Query) []Entry {
		t.Helper()
		es, err := r.Read(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	all := read(Query{})
	if len(all) != 20*3+5+1+3 {
		t.Errorf("all: %d records", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.Before(all[i-1].Time) {
			t.Fatal("records are not oldest first")
		}
	}
	if got := read(Query{Names: []string{"other"}}); len(got) != 1 || got[0].Get(FieldMsg) != "other function" {
		t.Errorf("by function: %v", got)
	}
	if got := read(Query{Names: []string{"gateway"}}); len(got) != 3 {
		t.Errorf("by service: %d records", len(got))
	}
	// hello's lines plus the gateway's records about hello.
	if got := read(Query{Names: []string{"hello"}}); len(got) != 65+2 {
		t.Errorf("hello: %d records", len(got))
	}
	got := read(Query{RequestID: "req-04"})
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Get(FieldMsg))
	}
	if strings.Join(msgs, "|") != "START RequestId: req-04|working on req-04|failed req-04|END RequestId: req-04" {
		t.Errorf("by request id: %q", msgs)
	}
	// By trace: both functions and the gateway, given the Root or the header.
	for _, id := range []string{"1-00000000-000000000000000000000003", "Root=1-00000000-000000000000000000000003;Parent=9;Sampled=1"} {
		got = read(Query{TraceID: id})
		fns := map[string]int{}
		for _, e := range got {
			fns[e.Get(FieldService)+"/"+e.Get(FieldFunction)]++
		}
		if fns["function/hello"] != 3*4+1 || fns["function/other"] != 1 || fns["gateway/hello"] != 1 {
			t.Errorf("by trace %s: %v", id, fns)
		}
	}
	if got := read(Query{Level: "error"}); len(got) != 5+1 {
		t.Errorf("errors: %d records", len(got))
	}
	if got := read(Query{Level: "warn"}); len(got) != 5+1+1 {
		t.Errorf("warn and above: %d records", len(got))
	}
	got = read(Query{Tail: 3, Names: []string{"hello"}, Level: "error"})
	if len(got) != 3 || got[2].Get(FieldMsg) != "worker start failed" {
		t.Errorf("tail: %v", got)
	}
	if got := read(Query{Since: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Errorf("since the future: %d records", len(got))
	}
}

func TestLogsQL(t *testing.T) {
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{}, "*"},
		{Query{Names: []string{"hello", "gateway"}}, `(service:in("hello","gateway") or function:in("hello","gateway"))`},
		{Query{RequestID: "r-1", TraceID: "Root=1-a-b;Parent=c"}, `request_id:="r-1" trace_root:="1-a-b"`},
		{Query{Level: "error"}, `level:in("critical","error","fatal","panic")`},
		{Query{Level: "WARNING"}, `level:in("critical","error","fatal","panic","warn")`},
		{Query{Level: "info"}, `-level:in("debug","trace")`},
		{Query{Names: []string{`we"ird`}}, `(service:in("we\"ird") or function:in("we\"ird"))`},
	} {
		if got := c.q.LogsQL(); got != c.want {
			t.Errorf("%+v: LogsQL %s, want %s", c.q, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	e, ok := parseEntry([]byte(`{"_time":"2026-11-27T16:00:00.5Z","service":"function","function":"hello","level":"info","_msg":"START RequestId: r1","request_id":"r1"}`))
	if !ok {
		t.Fatal("parse")
	}
	if got := string(Format{}.AppendEntry(nil, &e)); got != "hello        | START RequestId: r1\n" {
		t.Errorf("plain: %q", got)
	}
	if got := string(Format{Timestamps: true}.AppendEntry(nil, &e)); got != "2026-11-27T16:00:00.500000Z hello        | START RequestId: r1\n" {
		t.Errorf("timestamps: %q", got)
	}
	if got := string(Format{JSON: true}.AppendEntry(nil, &e)); got != `{"_time":"2026-11-27T16:00:00.5Z","service":"function","function":"hello","level":"info","request_id":"r1","_msg":"START RequestId: r1"}`+"\n" {
		t.Errorf("json: %q", got)
	}
	if got := string(Format{Color: true}.AppendEntry(nil, &e)); !strings.Contains(got, "\x1b[") || !strings.Contains(got, "START RequestId: r1") {
		t.Errorf("color: %q", got)
	}
	d, _ := parseEntry([]byte(`{"_time":"2026-11-27T16:00:00Z","service":"gateway","level":"error","_msg":"worker start failed","function":"hello","err":"image missing","port":8080,"component":"gateway"}`))
	if got := string(Format{}.AppendEntry(nil, &d)); got != `gateway/hello | ERROR worker start failed err="image missing" port=8080`+"\n" {
		t.Errorf("daemon: %q", got)
	}
	a, _ := parseEntry([]byte(`{"_time":"2026-11-27T16:00:00Z","service":"gateway","function":"hello","level":"info","type":"access","_msg":"request","method":"GET","path":"/hello","status":"200","latency_ms":"1.500","cold":"true","request_id":"r9"}`))
	if got := string(Format{}.AppendEntry(nil, &a)); got != "gateway/hello | GET /hello 200 1.500 ms cold request_id=r9\n" {
		t.Errorf("access: %q", got)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                  now.Add(-10 * time.Minute),
		"1d":                   now.Add(-24 * time.Hour),
		"2026-11-27T15:00:00Z": now.Add(-time.Hour),
	} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSince("soon", now); err == nil {
		t.Error("ParseSince accepted soon")
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{EnvService: "dynamodb", EnvLogDir: "/x/logs", EnvVictoriaLogsURL: "http://127.0.0.1:9428", EnvBufferMB: "64", EnvMaxAge: "2d"}
	c := ConfigFromEnv("gateway", func(k string) string { return env[k] })
	if c.Service != "dynamodb" || c.Dir != "/x/logs" || c.BufferBytes != 64<<20 || c.StoreMaxAge != 48*time.Hour || c.err != nil {
		t.Errorf("config %+v", c)
	}
	env[EnvStoreMB] = "lots"
	c = ConfigFromEnv("gateway", func(k string) string { return env[k] })
	if _, err := Open(c, nil); err == nil || !strings.Contains(err.Error(), "ESB_LOG_STORE_MB") {
		t.Errorf("bad ESB_LOG_STORE_MB: %v", err)
	}
	if DefaultConfig("s3").Enabled() {
		t.Error("a default configuration has somewhere to write")
	}
}

// Follow sees records written after Read, across a rotation.
func TestFollowLocalStore(t *testing.T) {
	dir := t.TempDir()
	p, err := Open(Config{Service: "s3", Dir: dir, StoreFileBytes: 2 << 10, FlushInterval: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := p.Handler()
	log := slog.New(h)
	log.Info("before")
	waitUntil(t, "first record", 5*time.Second, func() bool { return p.Stats().Delivered == 1 })
	r := &Reader{Source: Source{LogDir: dir}, PollInterval: 5 * time.Millisecond}
	es, err := r.Read(context.Background(), Query{})
	if err != nil || len(es) != 1 {
		t.Fatalf("read: %v %v", es, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 100)
	go r.Follow(ctx, Query{Names: []string{"s3"}}, es[0].Time, func(e *Entry) { got <- e.Get(FieldMsg) })
	for i := 0; i < 40; i++ { // ~40 × 120 B over 2 KiB files: rotates
		log.Info(fmt.Sprintf("after %02d", i), "pad", strings.Repeat("p", 60))
	}
	for i := 0; i < 40; i++ {
		select {
		case m := <-got:
			if want := fmt.Sprintf("after %02d", i); m != want {
				t.Fatalf("followed %q, want %q", m, want)
			}
		case <-ctx.Done():
			t.Fatalf("followed %d of 40 records", i)
		}
	}
	p.Close()
}

// Directories a daemon makes under the log directory take its mode and
// group, so a daemon running as another user (the gateway) can add its own.
func TestMkdirUnderKeepsModeAndGroup(t *testing.T) {
	root := t.TempDir()
	if err := os.Chmod(root, 0o775); err != nil {
		t.Fatal(err)
	}
	gid := os.Getgid()
	if os.Geteuid() == 0 {
		gid = 4242
		if err := os.Chown(root, 0, gid); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, "agent", "store")
	if err := mkdirUnder(root, dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(root, "agent"), dir} {
		info, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o775 || int(info.Sys().(*syscall.Stat_t).Gid) != gid {
			t.Errorf("%s: mode %v gid %d, want 0775 and %d", d, info.Mode().Perm(), info.Sys().(*syscall.Stat_t).Gid, gid)
		}
	}
}

func TestFormatMultiLine(t *testing.T) {
	e, _ := parseEntry([]byte(`{"_time":"2026-11-27T16:00:00Z","service":"function","function":"py","level":"error","_msg":"[ERROR] ValueError: boom\rTraceback (most recent call last):\r  File \"/var/task/app.py\"\u0007"}`))
	want := "py           | [ERROR] ValueError: boom\n" +
		"               Traceback (most recent call last):\n" +
		"                 File \"/var/task/app.py\"\n"
	if got := string(Format{}.AppendEntry(nil, &e)); got != want {
		t.Errorf("multi-line:\n%q\nwant\n%q", got, want)
	}
	d, _ := parseEntry([]byte(`{"_time":"2026-11-27T16:00:00Z","service":"agent","level":"info","_msg":"agent started","readiness_timeout":"30s"}`))
	if got := string(Format{}.AppendEntry(nil, &d)); got != "agent        | agent started readiness_timeout=30s\n" {
		t.Errorf("daemon: %q", got)
	}
}

func TestSlogDurationsAreReadable(t *testing.T) {
	dir := t.TempDir()
	logger, p, err := Setup(Config{Service: "agent", Dir: dir, FlushInterval: time.Millisecond}, slog.NewTextHandler(io.Discard, nil))
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("agent started", "readiness_timeout", 30*time.Second)
	p.Close()
	es, err := (&Reader{Source: Source{LogDir: dir}}).Read(context.Background(), Query{})
	if err != nil || len(es) != 1 || es[0].Get("readiness_timeout") != "30s" {
		t.Errorf("records %v %v", es, err)
	}
}

func TestCollector(t *testing.T) {
	dir := t.TempDir()
	p, err := Open(Config{Service: "gateway", Dir: dir, FlushInterval: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(p.Writer(nil), "one line")
	p.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Collector())
	var b strings.Builder
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			fmt.Fprintf(&b, "%s %v\n", mf.GetName(), m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
	for _, want := range []string{"esb_log_lines_total 1", "esb_log_lines_delivered_total 1", "esb_log_lines_dropped_total 0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
	if data, _ := os.ReadFile(MetricsFile(dir, "gateway")); !strings.Contains(string(data), `esb_log_lines_delivered_total{service="gateway",store="local"} 1`) {
		t.Errorf("metrics file:\n%s", data)
	}
	empty := prometheus.NewRegistry()
	empty.MustRegister((*Pipeline)(nil).Collector())
	if mfs, err := empty.Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("a nil pipeline collected %v %v", mfs, err)
	}
}
