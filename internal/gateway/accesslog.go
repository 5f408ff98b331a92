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
type accessLog struct {
	mu sync.Mutex
	w  io.Writer
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
	l.mu.Lock()
	l.w.Write(b)
	l.mu.Unlock()
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
