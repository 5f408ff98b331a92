package gateway

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// accessLog writes one JSON line per request, formatted by hand: the access
// log is on the hot path, and slog's JSON handler costs several times more.
// Lines look like the rest of the gateway's slog output:
//
//	{"time":"…","level":"INFO","msg":"request","type":"access","request_id":"…",…}
//
// Lines are batched: written together once flushEvery has passed since the
// first unwritten one (or at maxBatch bytes), so a busy gateway makes one
// write per batch rather than one per request. flushEvery ≤ 0 writes each
// line at once.
type accessLog struct {
	w          io.Writer
	flushEvery time.Duration

	mu    sync.Mutex
	buf   []byte // lines not yet written
	spare []byte
	armed bool // the flush timer is running
	timer *time.Timer

	wmu sync.Mutex // held while writing, so batches stay in order
}

// maxBatch is the batch size written at once without waiting for the timer.
const maxBatch = 32 << 10

func newAccessLog(w io.Writer, flushEvery time.Duration) *accessLog {
	l := &accessLog{w: w, flushEvery: flushEvery}
	if flushEvery > 0 {
		l.timer = time.AfterFunc(time.Hour, l.flush)
		l.timer.Stop()
	}
	return l
}

// flush writes the lines buffered so far.
func (l *accessLog) flush() {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	b := l.buf
	l.buf, l.spare, l.armed = l.spare[:0], nil, false
	l.mu.Unlock()
	if len(b) > 0 {
		l.w.Write(b)
	}
	if cap(b) <= 4*maxBatch {
		l.mu.Lock()
		l.spare = b[:0]
		l.mu.Unlock()
	}
}

// close writes what is buffered and stops the timer.
func (l *accessLog) close() {
	if l.timer != nil {
		l.timer.Stop()
	}
	l.flush()
}

type accessEntry struct {
	requestID, traceID, method, path string
	status, bytes                    int
	latency                          time.Duration
	function                         string
	cold                             bool
	clientIP, userAgent              string
}

var logBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (l *accessLog) write(e *accessEntry, now time.Time) {
	bp := logBufPool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","component":"gateway","type":"access","request_id":`...)
	b = appendJSON(b, e.requestID)
	b = append(b, `,"trace_id":`...)
	b = appendJSON(b, e.traceID)
	b = append(b, `,"method":`...)
	b = appendJSON(b, e.method)
	b = append(b, `,"path":`...)
	b = appendJSON(b, e.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, float64(e.latency.Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(e.bytes), 10)
	b = append(b, `,"function":`...)
	b = appendJSON(b, e.function)
	b = append(b, `,"cold":`...)
	b = strconv.AppendBool(b, e.cold)
	b = append(b, `,"client_ip":`...)
	b = appendJSON(b, e.clientIP)
	b = append(b, `,"user_agent":`...)
	b = appendJSON(b, e.userAgent)
	b = append(b, "}\n"...)
	if l.timer == nil {
		l.wmu.Lock()
		l.w.Write(b)
		l.wmu.Unlock()
	} else {
		l.mu.Lock()
		l.buf = append(l.buf, b...)
		full := len(l.buf) >= maxBatch
		if !full && !l.armed {
			l.armed = true
			l.timer.Reset(l.flushEvery)
		}
		l.mu.Unlock()
		if full {
			l.flush()
		}
	}
	*bp = b
	logBufPool.Put(bp)
}

// appendJSON appends s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendJSON(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
