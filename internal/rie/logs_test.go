package rie

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

func fixedSink(format LogFormat) (*LogSink, *syncBuffer) {
	out := &syncBuffer{}
	s := NewLogSink(out, format, "hello")
	s.now = func() time.Time { return time.Date(2026, 11, 27, 16, 0, 0, 123456000, time.UTC) }
	return s, out
}

func TestLogSinkTextLines(t *testing.T) {
	s, out := fixedSink(LogText)
	s.beginInvoke("id-1", "Root=1-a", "$LATEST", nil)
	s.endInvoke(&reportLine{requestID: "id-1", duration: 15740 * time.Microsecond, memoryMB: 128, maxMemoryMB: 56,
		initDuration: 130490 * time.Microsecond})
	want := "START RequestId: id-1 Version: $LATEST\n" +
		"END RequestId: id-1\n" +
		"REPORT RequestId: id-1\tDuration: 15.74 ms\tBilled Duration: 16 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 130.49 ms\t\n"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestReportStatus(t *testing.T) {
	got := string(appendReport(nil, &reportLine{requestID: "x", duration: time.Millisecond, memoryMB: 1, maxMemoryMB: 1,
		status: "error", errorType: "Runtime.ExitError"}))
	if !strings.HasSuffix(got, "Status: error\tError Type: Runtime.ExitError\t") {
		t.Fatalf("%q", got)
	}
	if billedMS(1001*time.Microsecond) != 2 || billedMS(time.Millisecond) != 1 || billedMS(0) != 0 {
		t.Fatal("billed duration rounds up to whole ms")
	}
}

func TestLogSinkJSON(t *testing.T) {
	s, out := fixedSink(LogJSON)
	s.platform(typeInit, "info", "INIT_START Runtime Version: python3.12")
	s.beginInvoke("id-1", "Root=1-a;Sampled=1", "$LATEST", nil)
	s.mu.Lock()
	s.runtimeLineLocked("stdout", []byte("[WARNING]\t2026-11-27T16:00:00.000Z\tid-1\tcareful \"quoted\" ünïcödé \x01"))
	s.runtimeLineLocked("stderr", []byte("plain stderr"))
	s.runtimeLineLocked("stdout", []byte{0xff, 'x'})
	s.flushLocked()
	s.mu.Unlock()
	s.endInvoke(&reportLine{requestID: "id-1", duration: 2 * time.Millisecond, memoryMB: 128, maxMemoryMB: 30,
		status: "timeout"})

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	var recs []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s: %v", l, err)
		}
		if m["time"] != "2026-11-27T16:00:00.123456Z" || m["function"] != "hello" {
			t.Fatalf("record %s", l)
		}
		recs = append(recs, m)
	}
	check := func(i int, typ, level, reqID, stream, msg string) {
		t.Helper()
		r := recs[i]
		if r["type"] != typ || r["level"] != level || str(r["request_id"]) != reqID || str(r["stream"]) != stream || str(r["message"]) != msg {
			t.Errorf("record %d = %v", i, r)
		}
	}
	check(0, "platform.init", "info", "", "", "INIT_START Runtime Version: python3.12")
	check(1, "platform.start", "info", "id-1", "", "START RequestId: id-1 Version: $LATEST")
	check(2, "function", "warn", "id-1", "stdout", "[WARNING]\t2026-11-27T16:00:00.000Z\tid-1\tcareful \"quoted\" ünïcödé \x01")
	check(3, "function", "error", "id-1", "stderr", "plain stderr")
	check(4, "function", "info", "id-1", "stdout", "\ufffdx")
	check(5, "platform.end", "info", "id-1", "", "END RequestId: id-1")
	r := recs[6]
	if r["type"] != "platform.report" || r["level"] != "error" || r["status"] != "timeout" ||
		r["duration_ms"] != 2.0 || r["billed_duration_ms"] != 2.0 || r["max_memory_used_mb"] != 30.0 {
		t.Errorf("report = %v", r)
	}
	if recs[2]["trace_id"] != "Root=1-a;Sampled=1" {
		t.Errorf("trace id missing: %v", recs[2])
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	tb.write([]byte("abc"))
	if string(tb.bytes()) != "abc" {
		t.Fatal(string(tb.bytes()))
	}
	var all bytes.Buffer
	for i := 0; i < 500; i++ {
		line := []byte(strings.Repeat(string(rune('a'+i%26)), i%37) + "\n")
		tb.write(line)
		all.Write(line)
	}
	want := all.Bytes()[all.Len()-tailBytes:]
	full := append([]byte("abc"), all.Bytes()...)
	want = full[len(full)-tailBytes:]
	if !bytes.Equal(tb.bytes(), want) {
		t.Fatal("tail differs from the last 4 KB written")
	}
	big := bytes.Repeat([]byte("z"), 3*tailBytes+5)
	big[len(big)-1] = 'E'
	tb.write(big)
	if got := tb.bytes(); len(got) != tailBytes || got[len(got)-1] != 'E' {
		t.Fatalf("after a large write: %d bytes", len(got))
	}
}

// Runtime output written before the result is in the log before END,
// partial lines included, long lines split.
func TestPipeReaderOrdering(t *testing.T) {
	s, out := fixedSink(LogText)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPipeReader(s, "stdout", r)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.run(); close(done) }()

	tail := new(tailBuffer)
	s.beginInvoke("id", "", "$LATEST", tail)
	w.Write([]byte("line one\nline two\r\nno newline"))
	// No sleep: endInvoke must pull the bytes out of the pipe itself.
	s.endInvoke(&reportLine{requestID: "id"})
	got := out.String()
	want := "START RequestId: id Version: $LATEST\nline one\nline two\nno newline\nEND RequestId: id\n"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got\n%q\nwant prefix\n%q", got, want)
	}
	if !strings.HasPrefix(string(tail.bytes()), want) {
		t.Fatalf("tail %q", tail.bytes())
	}

	long := bytes.Repeat([]byte("x"), maxLineBytes+10)
	w.Write(append(long, '\n'))
	w.Close()
	<-done
	rest := strings.TrimPrefix(out.String(), got)
	lines := strings.Split(strings.TrimSuffix(rest, "\n"), "\n")
	if len(lines) != 2 || len(lines[0]) != maxLineBytes || len(lines[1]) != 10 {
		t.Fatalf("long line split into %d lines", len(lines))
	}
	s.mu.Lock()
	n := len(s.pipes)
	s.mu.Unlock()
	if n != 0 {
		t.Fatal("closed pipe still registered")
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s", "tab\tnl\nret\r", "\x00\x1f", "ünï 日本 😀", "bad\xffutf8"} {
		b := jsonx.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want {
			t.Fatalf("%q → %q", s, back)
		}
		if !bytes.Equal(jsonx.AppendBytes(nil, []byte(s)), b) {
			t.Fatalf("string and bytes encoders differ for %q", s)
		}
	}
}

func TestDetectLevel(t *testing.T) {
	cases := map[string]string{
		"":                             "",
		"hello world":                  "",
		"[INFO]\tmsg":                  "info",
		"[ERROR] boom":                 "error",
		"[WARNING]\tx":                 "warn",
		"[debug] x":                    "debug",
		"[not a level] x":              "",
		`{"level":"warn","msg":"x"}`:   "warn",
		`{"msg":"x","level": "ERROR"}`: "error",
		`{"levelname":"CRITICAL"}`:     "fatal",
		`{"severity":"notice"}`:        "info",
		`{"msg":"no level"}`:           "",
		"2026-11-27T16:00:00.000Z\tabc-123\tWARN\tcareful": "warn",
		"2026-11-27T16:00:00.000Z\tundefined\tINFO\thi":    "info",
		"WARNING:root:deprecated":                          "warn",
		"ERROR: failed":                                    "error",
		"INFO starting":                                    "info",
		"ERRORS are fine":                                  "",
		"time=2026 level=DEBUG msg=x":                      "debug",
		"level=error msg=x":                                "error",
		"sublevel=error":                                   "",
		"TRACE: x":                                         "trace",
		"FATAL x":                                          "fatal",
	}
	for line, want := range cases {
		if got := detectLevel([]byte(line)); got != want {
			t.Errorf("detectLevel(%q) = %q, want %q", line, got, want)
		}
	}
}

func BenchmarkRuntimeLineJSON(b *testing.B) {
	s := NewLogSink(discard{}, LogJSON, "fn")
	s.requestID, s.traceID = "8f0c1d2e-aaaa-bbbb-cccc-0123456789ab", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	line := []byte("[INFO]\t2026-11-27T16:00:00.000Z\t8f0c1d2e-aaaa-bbbb-cccc-0123456789ab\tprocessed order 1234 in 12 ms")
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		s.runtimeLineLocked("stdout", line)
		s.flushLocked()
		s.mu.Unlock()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestSinkHandler(t *testing.T) {
	s, out := fixedSink(LogJSON)
	log := slog.New(&sinkHandler{sink: s, level: slog.LevelWarn}).With("fn", "hello")
	log.Info("hidden")
	log.Warn("runtime exited between invokes", "reason", "exit status 2")
	var rec map[string]any
	if err := json.Unmarshal([]byte(out.String()), &rec); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if rec["type"] != "platform.error" || rec["level"] != "warn" ||
		rec["message"] != "esb-rie: runtime exited between invokes fn=hello reason=exit status 2" {
		t.Fatalf("%v", rec)
	}
}
