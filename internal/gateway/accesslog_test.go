package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
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

func TestAccessLogBatches(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	writes := 0
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		writes++
		return buf.Write(p)
	})
	l := newAccessLog(w, 50*time.Millisecond)
	for i := range 3 {
		l.write(&accessEntry{requestID: strconv.Itoa(i), method: "GET", path: "/", status: 200}, time.Unix(0, 0))
	}
	mu.Lock()
	if writes != 0 {
		t.Errorf("%d writes before the flush interval", writes)
	}
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n, text := writes, buf.String()
		mu.Unlock()
		if n > 0 {
			if n != 1 || strings.Count(text, "\n") != 3 || strings.Index(text, `"request_id":"0"`) > strings.Index(text, `"request_id":"2"`) {
				t.Fatalf("%d writes, lines in order expected:\n%s", n, text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("batch never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A full batch is written at once; close writes the rest.
	long := strings.Repeat("x", maxBatch)
	l.write(&accessEntry{requestID: "big", path: long}, time.Unix(0, 0))
	mu.Lock()
	if writes != 2 {
		t.Errorf("a full batch waited: %d writes", writes)
	}
	mu.Unlock()
	l.write(&accessEntry{requestID: "last"}, time.Unix(0, 0))
	l.close()
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), `"request_id":"last"`) {
		t.Error("close lost a buffered line")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
