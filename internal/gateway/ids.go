package gateway

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// idSource makes request ids (UUID v4) and trace ids from per-goroutine
// ChaCha8 generators seeded from crypto/rand: fast, and unpredictable.
type idSource struct {
	pool sync.Pool
}

func newIDSource() *idSource {
	s := &idSource{}
	s.pool.New = func() any {
		var seed [32]byte
		crand.Read(seed[:])
		return rand.NewChaCha8(seed)
	}
	return s
}

func (s *idSource) fill(b []byte) {
	g := s.pool.Get().(*rand.ChaCha8)
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], g.Uint64())
		copy(b[i:], w[:])
	}
	s.pool.Put(g)
}

const hexd = "0123456789abcdef"

// requestID returns a random UUID v4 ("3f0e…-…").
func (s *idSource) requestID() string {
	var u [16]byte
	s.fill(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexd[c>>4], hexd[c&15]
		j += 2
	}
	return string(b[:])
}

// newTraceID returns "Root=1-<8 hex epoch seconds>-<24 hex random>;Sampled=1".
func (s *idSource) newTraceID(now time.Time) string {
	const head, tail = "Root=1-", ";Sampled=1"
	var r [12]byte
	s.fill(r[:])
	var b [len(head) + 8 + 1 + 24 + len(tail)]byte
	copy(b[:], head)
	sec := uint32(now.Unix()) // 8 hex digits until 2106
	for i := range 8 {
		b[len(head)+i] = hexd[sec>>(28-4*i)&15]
	}
	b[len(head)+8] = '-'
	j := len(head) + 9
	for _, c := range r {
		b[j], b[j+1] = hexd[c>>4], hexd[c&15]
		j += 2
	}
	copy(b[j:], tail)
	return string(b[:])
}

// traceID keeps a valid incoming X-Amzn-Trace-Id (with its Parent, Sampled
// and Lineage fields) or makes a new one.
func (s *idSource) traceID(header string, now time.Time) string {
	if header != "" && validTrace(header) {
		return header
	}
	return s.newTraceID(now)
}

// validTrace checks that the header has Root=1-<8 hex>-<24 hex>.
func validTrace(h string) bool {
	if len(h) > 256 {
		return false
	}
	for part := range strings.SplitSeq(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != "Root" {
			continue
		}
		if len(v) != 35 || v[:2] != "1-" || v[10] != '-' {
			return false
		}
		return isHex(v[2:10]) && isHex(v[11:])
	}
	return false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
