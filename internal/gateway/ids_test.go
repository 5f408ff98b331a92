package gateway

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

func TestIDFormats(t *testing.T) {
	s := newIDSource()
	now := time.Unix(0x67891233, 0)
	traceRE := regexp.MustCompile(`^Root=1-67891233-[0-9a-f]{24};Sampled=1$`)
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 10000 {
		tr, id := s.newTraceID(now), s.requestID()
		if !traceRE.MatchString(tr) || !validTrace(tr) {
			t.Fatalf("trace id %q", tr)
		}
		if !uuidRE.MatchString(id) {
			t.Fatalf("request id %q", id)
		}
		if seen[tr] || seen[id] {
			t.Fatalf("repeated id %q %q", tr, id)
		}
		seen[tr], seen[id] = true, true
	}
	if got, want := s.newTraceID(time.Unix(0x5, 0))[7:16], fmt.Sprintf("%08x-", 5); got != want {
		t.Errorf("epoch part %q, want %q", got, want)
	}
}
