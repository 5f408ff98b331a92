package gateway

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestAccessLogLineIsJSON(t *testing.T) {
	var buf bytes.Buffer
	l := &accessLog{w: &buf}
	l.write(&accessEntry{requestID: "rid", traceID: "Root=1-x", method: "GET", path: "/a\"b\\c\n\x01ü\xff",
		status: 502, bytes: 10, latency: 1500 * time.Microsecond, function: "f", cold: true, clientIP: "::1", userAgent: "curl/8"}, time.Unix(0, 0))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%s: %v", buf.Bytes(), err)
	}
	if m["path"] != "/a\"b\\c\n\x01ü\ufffd" || m["status"] != 502.0 || m["latency_ms"] != 1.5 || m["cold"] != true || m["type"] != "access" || m["level"] != "INFO" {
		t.Errorf("line: %v", m)
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("}\n")) {
		t.Error("one line per request")
	}
}
