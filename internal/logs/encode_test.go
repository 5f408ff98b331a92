package logs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// decode parses one record as encoding/json sees it (the judge of validity).
func decode(t *testing.T, rec []byte) map[string]any {
	t.Helper()
	if len(rec) == 0 || rec[len(rec)-1] != '\n' || strings.Count(string(rec), "\n") != 1 {
		t.Fatalf("record is not one line: %q", rec)
	}
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatalf("record is not JSON: %v\n%s", err, rec)
	}
	return m
}

func funcSource() *source {
	return &source{service: []byte(ServiceFunction), function: []byte("hello"), project: []byte("demo"), containerID: []byte("esb-demo-hello-1a2b3c4d"),
		stream: []byte("stdout"), read: time.Date(2026, 11, 27, 16, 0, 1, 0, time.UTC), level: "info", expand: true}
}

func TestEncodeEsbRieLines(t *testing.T) {
	cases := []struct {
		name string
		line string
		want map[string]any
	}{
		{
			name: "start",
			line: `{"time":"2026-11-27T16:00:00.123456Z","type":"platform.start","level":"info","function":"hello","request_id":"8f0c-1","trace_id":"Root=1-5f1c2d3e-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1","message":"START RequestId: 8f0c-1 Version: $LATEST"}`,
			want: map[string]any{"_time": "2026-11-27T16:00:00.123456Z", "service": "function", "function": "hello", "project": "demo",
				"container_id": "esb-demo-hello-1a2b3c4d", "stream": "stdout", "level": "info", "type": "platform.start", "request_id": "8f0c-1",
				"trace_id":   "Root=1-5f1c2d3e-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
				"trace_root": "1-5f1c2d3e-0123456789abcdef01234567", "_msg": "START RequestId: 8f0c-1 Version: $LATEST"},
		},
		{
			name: "runtime stderr line",
			line: `{"time":"2026-11-27T16:00:00.2Z","type":"function","level":"error","function":"hello","request_id":"8f0c-1","trace_id":"Root=1-a-b","stream":"stderr","message":"Traceback (most recent call last):\r  File \"/var/task/app.py\""}`,
			want: map[string]any{"_time": "2026-11-27T16:00:00.2Z", "service": "function", "function": "hello", "project": "demo",
				"container_id": "esb-demo-hello-1a2b3c4d", "stream": "stderr", "level": "error", "type": "function", "request_id": "8f0c-1",
				"trace_id": "Root=1-a-b", "trace_root": "1-a-b", "_msg": "Traceback (most recent call last):\r  File \"/var/task/app.py\""},
		},
		{
			name: "report keeps its numbers",
			line: `{"time":"2026-11-27T16:00:00.3Z","type":"platform.report","level":"info","function":"hello","request_id":"8f0c-1","duration_ms":15.74,"billed_duration_ms":16,"memory_size_mb":128,"max_memory_used_mb":56,"init_duration_ms":130.49,"message":"REPORT RequestId: 8f0c-1\tDuration: 15.74 ms"}`,
			want: map[string]any{"_time": "2026-11-27T16:00:00.3Z", "service": "function", "function": "hello", "project": "demo",
				"container_id": "esb-demo-hello-1a2b3c4d", "stream": "stdout", "level": "info", "type": "platform.report", "request_id": "8f0c-1",
				"duration_ms": 15.74, "billed_duration_ms": 16.0, "memory_size_mb": 128.0, "max_memory_used_mb": 56.0, "init_duration_ms": 130.49,
				"_msg": "REPORT RequestId: 8f0c-1\tDuration: 15.74 ms"},
		},
		{
			name: "a function's JSON log becomes message plus attrs",
			line: `{"time":"2026-11-27T16:00:00.4Z","type":"function","level":"warn","function":"hello","request_id":"r2","stream":"stdout","message":"{\"timestamp\":\"2026-11-27T16:00:00Z\",\"level\":\"WARNING\",\"message\":\"disk almost full\",\"logger\":\"root\",\"free\":{\"mb\":12}}"}`,
			want: map[string]any{"_time": "2026-11-27T16:00:00.4Z", "service": "function", "function": "hello", "project": "demo",
				"container_id": "esb-demo-hello-1a2b3c4d", "stream": "stdout", "level": "warn", "type": "function", "request_id": "r2",
				"_msg": "disk almost full", "attrs": map[string]any{"timestamp": "2026-11-27T16:00:00Z", "level": "WARNING", "logger": "root", "free": map[string]any{"mb": 12.0}}},
		},
		{
			name: "JSON without a message keeps the whole text",
			line: `{"time":"2026-11-27T16:00:00.5Z","type":"function","level":"info","function":"hello","stream":"stdout","message":"{\"a\":1}"}`,
			want: map[string]any{"_time": "2026-11-27T16:00:00.5Z", "service": "function", "function": "hello", "project": "demo",
				"container_id": "esb-demo-hello-1a2b3c4d", "stream": "stdout", "level": "info", "type": "function",
				"_msg": `{"a":1}`, "attrs": map[string]any{"a": 1.0}},
		},
		{
			name: "text line (esb-rie's own diagnostics)",
			line: `time=2026-11-27T16:00:00.000Z level=WARN msg="runtime restarted"`,
			want: map[string]any{"_time": "2026-11-27T16:00:01Z", "service": "function", "function": "hello", "project": "demo",
				"container_id": "esb-demo-hello-1a2b3c4d", "stream": "stdout", "level": "warn",
				"_msg": `time=2026-11-27T16:00:00.000Z level=WARN msg="runtime restarted"`},
		},
		{
			name: "broken JSON is text",
			line: `{"time":"2026-11-27T16:00:00Z","message":"unterminated`,
			want: map[string]any{"_time": "2026-11-27T16:00:01Z", "service": "function", "function": "hello", "project": "demo",
				"container_id": "esb-demo-hello-1a2b3c4d", "stream": "stdout", "level": "info",
				"_msg": `{"time":"2026-11-27T16:00:00Z","message":"unterminated`},
		},
		{
			name: "invalid UTF-8 and control characters",
			line: "bad \xff byte \x01 here",
			want: map[string]any{"_time": "2026-11-27T16:00:01Z", "service": "function", "function": "hello", "project": "demo",
				"container_id": "esb-demo-hello-1a2b3c4d", "stream": "stdout", "level": "info", "_msg": "bad \ufffd byte \x01 here"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e encoder
			rec, _ := e.appendRecord(nil, funcSource(), []byte(c.line))
			got := decode(t, rec)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(c.want)
			if string(gj) != string(wj) {
				t.Errorf("record\n got %s\nwant %s", gj, wj)
			}
		})
	}
}

func TestEncodeSlogAndAccessLines(t *testing.T) {
	var e encoder
	src := &source{service: []byte("gateway"), read: time.Now(), level: "info"}
	rec, _ := e.appendRecord(nil, src, []byte(`{"time":"2026-11-27T17:00:00.5+01:00","level":"INFO","msg":"request","component":"gateway","type":"access","request_id":"req-1","trace_id":"Root=1-aa-bb;Sampled=1","method":"GET","path":"/hello","status":200,"latency_ms":1.234,"bytes":17,"function":"hello","cold":true,"client_ip":"127.0.0.1","user_agent":"curl"}`))
	got := decode(t, rec)
	want := map[string]any{"_time": "2026-11-27T16:00:00.5Z", "service": "gateway", "function": "hello", "level": "info", "type": "access",
		"request_id": "req-1", "trace_id": "Root=1-aa-bb;Sampled=1", "trace_root": "1-aa-bb", "_msg": "request", "component": "gateway",
		"method": "GET", "path": "/hello", "status": 200.0, "latency_ms": 1.234, "bytes": 17.0, "cold": true, "client_ip": "127.0.0.1", "user_agent": "curl"}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("access record\n got %s\nwant %s", gj, wj)
	}

	// slog attributes named like esb's own fields are kept under attrs.
	rec, _ = e.appendRecord(nil, &source{service: []byte("s3"), read: time.Now(), level: "info"},
		[]byte(`{"time":"2026-11-27T16:00:00Z","level":"WARN","msg":"slow disk","service":"other","project":"x","level2":"y"}`))
	got = decode(t, rec)
	if got["service"] != "s3" || got["attrs.service"] != "other" || got["attrs.project"] != "x" || got["level"] != "warn" || got["level2"] != "y" {
		t.Errorf("collisions: %s", rec)
	}
}

func TestEncodeKeepsContainerOrder(t *testing.T) {
	var e encoder
	src := funcSource()
	line := []byte(`{"time":"2026-11-27T16:00:00.123456Z","type":"function","level":"info","message":"x"}`)
	var last time.Time
	for i := 0; i < 5; i++ {
		src.after = last
		var rec []byte
		rec, last = e.appendRecord(nil, src, line)
		want := time.Date(2026, 11, 27, 16, 0, 0, 123456000+i, time.UTC)
		if !last.Equal(want) {
			t.Fatalf("line %d: time %v, want %v (%s)", i, last, want, rec)
		}
	}
}

func TestTraceRoot(t *testing.T) {
	for in, want := range map[string]string{
		"Root=1-5f1c2d3e-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1": "1-5f1c2d3e-0123456789abcdef01234567",
		"Parent=1;Root=1-a-b":   "1-a-b",
		"1-5f1c2d3e-0123":       "1-5f1c2d3e-0123",
		"Sampled=1":             "",
		"root=1-x-y; Sampled=0": "1-x-y",
	} {
		if got := TraceRoot(in); got != want {
			t.Errorf("TraceRoot(%q) = %q, want %q", in, got, want)
		}
		if got := string(traceRootBytes([]byte(in))); got != want {
			t.Errorf("traceRootBytes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{"2026-11-27T16:00:00Z", "2026-11-27T16:00:00.123456Z", "2026-11-27T17:00:00.123456789+01:00",
		"2026-11-27T10:30:00-05:30", "2026-01-02T03:04:05.1Z"} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseTime([]byte(s))
		if !ok || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "yesterday", "2026-13-27T16:00:00Z", "2026-11-27T16:00:00", "2026-11-27T16:00:00.Z", "2026-11-27T16:00:00Zjunk"} {
		if _, ok := parseTime([]byte(s)); ok {
			t.Errorf("parseTime(%q) accepted", s)
		}
	}
}

func TestScanObjectRejects(t *testing.T) {
	for _, s := range []string{`{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":tru}`, `{"a":"\x"}`, `{"a":1} x`,
		`{"a":[1,2}`, `{"a":"` + "\x01" + `"}`, strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)} {
		if _, ok := scanObject(nil, []byte(s)); ok {
			t.Errorf("scanObject accepted %q", s)
		}
	}
	ms, ok := scanObject(nil, []byte(` { "a" : [1, {"b": null}, "c\u00e9"], "d": -1.5e3 } `))
	if !ok || len(ms) != 2 || string(ms[0].val) != `[1, {"b": null}, "c\u00e9"]` || string(ms[1].val) != "-1.5e3" {
		t.Errorf("scanObject: %v %q", ok, ms)
	}
}

func TestUnescape(t *testing.T) {
	in := `a\"b\\c\/d\n\t\u00e9\ud83d\ude00\ud800x`
	got := string(unescape(nil, []byte(in)))
	if want := "a\"b\\c/d\n\té😀\ufffdx"; got != want {
		t.Errorf("unescape = %q, want %q", got, want)
	}
}

func TestTextLevel(t *testing.T) {
	for in, want := range map[string]string{
		"[ERROR]\t2026-11-27T16:00:00Z\tid\tboom":  "error",
		"WARNING:root:careful":                     "warn",
		"time=x level=DEBUG msg=y":                 "debug",
		`time=x level="warn" msg=y`:                "warn",
		"INFO: hello":                              "info",
		"OK: fine":                                 "",
		"plain line":                               "",
		"2026-11-27T16:00:00Z\tid\tERROR\tmessage": "",
	} {
		if got := textLevel([]byte(in)); got != want {
			t.Errorf("textLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNeedsCheck(t *testing.T) {
	for i := 0; i < 256; i++ {
		for pos := 0; pos < 20; pos++ {
			b := []byte(strings.Repeat("a", 20))
			b[pos] = byte(i)
			want := i < 0x20 || i == '\\'
			if got := needsCheck(b); got != want {
				t.Fatalf("needsCheck with byte %#x at %d = %v", i, pos, got)
			}
		}
	}
}

func TestRawEntriesRoundTrip(t *testing.T) {
	r := rawSource{service: "function", function: "hello", project: "demo", containerID: "c1", stream: "stderr",
		read: time.Unix(0, 1764259200123456789), expand: true, stderr: true}
	raw := appendRaw(nil, &r, []byte("first"))
	raw = appendRaw(raw, &rawSource{service: "gateway", read: time.Unix(5, 0)}, []byte(""))
	var s source
	line, rest, ok := nextRaw(raw, &s)
	if string(line) != "first" || string(s.service) != "function" || string(s.function) != "hello" || string(s.project) != "demo" ||
		string(s.containerID) != "c1" || string(s.stream) != "stderr" || !s.read.Equal(r.read) || !s.expand || s.level != "error" || !ok {
		t.Errorf("first entry: %q %+v", line, s)
	}
	line, rest, ok = nextRaw(rest, &s)
	if !ok || len(line) != 0 || len(rest) != 0 || string(s.service) != "gateway" || len(s.function) != 0 || s.expand || s.level != "info" {
		t.Errorf("second entry: %q %+v rest %d", line, s, len(rest))
	}
}

func TestRawEntriesCutShort(t *testing.T) {
	raw := appendRaw(nil, &rawSource{service: "function", containerID: "c1", read: time.Now()}, []byte("a whole line"))
	for n := 0; n < len(raw); n++ {
		var s source
		if _, _, ok := nextRaw(raw[:n], &s); ok {
			t.Fatalf("an entry cut at %d of %d bytes decoded", n, len(raw))
		}
	}
	if countRaw(append(raw, raw[:5]...)) != 1 {
		t.Error("countRaw counted a cut entry")
	}
}
