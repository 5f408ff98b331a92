package logs

import (
	"bytes"
	"time"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

// source says where a line comes from; its fields are added to the record.
type source struct {
	service, function, project, containerID, stream []byte
	// read is when the line was read: the record's time when the line has
	// none of its own.
	read time.Time
	// after, when set, is the time of the previous record of the same
	// container: the record's time is made later than it, so records sort
	// in the order they were written even when the writer's clock gave two
	// lines the same microsecond.
	after time.Time
	// level is the level of a line that names none.
	level string
	// expand makes a message that is itself a JSON object (a function's
	// structured log line) into _msg plus attrs.
	expand bool
	// head, when set, is appendSourceFields of this source, made once.
	head []byte
}

// encoder turns source lines into records (one JSON object per line, the
// shape VictoriaLogs ingests). Its scratch space is reused: one encoder
// serves one goroutine at a time.
type encoder struct {
	members []member
	taken   []bool
	inner   []member
	msg     []byte
	trace   []byte
}

// Member names of a function's JSON line that hold its message.
var (
	keyMsg     = []byte("msg")
	keyMessage = []byte("message")
)

// appendRecord appends the record of one line to dst and returns the
// record's time. A line that is one JSON object (esb-rie's output, slog's
// JSON handler, the gateway's access log) keeps its members; any other line
// becomes the message.
func (e *encoder) appendRecord(dst []byte, s *source, line []byte) ([]byte, time.Time) {
	if len(line) > 1 && line[0] == '{' {
		var ok bool
		if e.members, ok = scanObject(e.members[:0], line); ok {
			return e.appendObject(dst, s, line)
		}
	}
	t := s.read
	if !s.after.IsZero() && !t.After(s.after) {
		t = s.after.Add(time.Nanosecond)
	}
	dst = appendHead(dst, s, t)
	if len(s.stream) > 0 {
		dst = appendKey(dst, FieldStream)
		dst = jsonx.AppendBytes(dst, s.stream)
	}
	level := textLevel(line)
	if level == "" {
		level = s.level
	}
	dst = appendKey(dst, FieldLevel)
	dst = jsonx.AppendString(dst, level)
	dst = appendKey(dst, FieldMsg)
	dst = jsonx.AppendBytes(dst, line)
	return append(dst, '}', '\n'), t
}

func (e *encoder) appendObject(dst []byte, s *source, line []byte) ([]byte, time.Time) {
	var timeV, msgV, levelV, reqV, traceV, fnV, streamV, typeV []byte
	// e.taken[i]: member i went into a field of the record.
	e.taken = append(e.taken[:0], make([]bool, len(e.members))...)
	for i, m := range e.members {
		var slot *[]byte
		str := isString(m.val)
		switch string(m.key) { // compiled to comparisons, no allocation
		case "time", FieldTime:
			slot = &timeV
		case "msg", "message", FieldMsg:
			slot = &msgV
			str = true // any value is the message
		case "level", "levelname", "severity":
			slot = &levelV
		case "request_id":
			slot = &reqV
		case "trace_id":
			slot = &traceV
		case "function":
			slot = &fnV
		case "stream":
			slot = &streamV
		case "type":
			slot = &typeV
		}
		if slot != nil && *slot == nil && str {
			*slot = m.val
			e.taken[i] = true
		}
	}

	t := s.read
	if isString(timeV) {
		if pt, ok := parseTime(timeV[1 : len(timeV)-1]); ok {
			t = pt
		}
	}
	if !s.after.IsZero() && !t.After(s.after) {
		t = s.after.Add(time.Nanosecond)
	}
	dst = appendHead(dst, s, t)
	if len(s.function) == 0 && isString(fnV) && len(fnV) > 2 {
		dst = appendKey(dst, FieldFunction)
		dst = append(dst, fnV...)
	}
	if isString(streamV) {
		dst = appendKey(dst, FieldStream)
		dst = append(dst, streamV...)
	} else if len(s.stream) > 0 {
		dst = appendKey(dst, FieldStream)
		dst = jsonx.AppendBytes(dst, s.stream)
	}
	level := s.level
	if isString(levelV) && len(levelV) > 2 {
		raw := levelV[1 : len(levelV)-1]
		if hasEscape(raw) {
			e.msg = unescape(e.msg[:0], raw)
			raw = e.msg
		}
		level = normalLevel(raw)
	}
	dst = appendKey(dst, FieldLevel)
	dst = jsonx.AppendString(dst, level)
	if isString(typeV) {
		dst = appendKey(dst, FieldType)
		dst = append(dst, typeV...)
	}
	if isString(reqV) && len(reqV) > 2 {
		dst = appendKey(dst, FieldRequestID)
		dst = append(dst, reqV...)
	}
	if isString(traceV) && len(traceV) > 2 {
		dst = appendKey(dst, FieldTraceID)
		dst = append(dst, traceV...)
		raw := traceV[1 : len(traceV)-1]
		if hasEscape(raw) {
			e.trace = unescape(e.trace[:0], raw)
			raw = e.trace
		}
		if root := traceRootBytes(raw); len(root) > 0 {
			dst = appendKey(dst, FieldTraceRoot)
			dst = jsonx.AppendBytes(dst, root)
		}
	}

	// The message; a function's JSON log line becomes its message plus attrs.
	var attrs []member
	var skipInner []byte
	switch {
	case msgV == nil:
		dst = appendKey(dst, FieldMsg)
		dst = jsonx.AppendBytes(dst, line)
	case isString(msgV):
		raw := msgV[1 : len(msgV)-1]
		if s.expand && len(raw) > 1 && raw[0] == '{' {
			e.msg = unescape(e.msg[:0], raw)
			var ok bool
			if e.inner, ok = scanObject(e.inner[:0], e.msg); ok {
				attrs = e.inner
				for _, m := range attrs {
					if isString(m.val) && (bytes.Equal(m.key, keyMessage) || bytes.Equal(m.key, keyMsg)) {
						msgV, skipInner = m.val, m.key
						break
					}
				}
			}
		}
		dst = appendKey(dst, FieldMsg)
		dst = append(dst, msgV...)
	default: // a number or an object as the message: its JSON text
		dst = appendKey(dst, FieldMsg)
		dst = jsonx.AppendBytes(dst, msgV)
	}

	// Every other member, as it was (members of a kind the record did not
	// take, such as a numeric level, stay too).
	for i, m := range e.members {
		if e.taken[i] {
			continue
		}
		dst = append(dst, ',', '"')
		if ownFields[string(m.key)] {
			dst = append(dst, FieldAttrs+"."...)
		}
		dst = append(dst, m.key...)
		dst = append(dst, '"', ':')
		dst = append(dst, m.val...)
	}
	if len(attrs) > 0 {
		dst = appendKey(dst, FieldAttrs)
		dst = append(dst, '{')
		first := true
		for _, m := range attrs {
			if skipInner != nil && sameSpan(m.key, skipInner) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, '"')
			dst = append(dst, m.key...)
			dst = append(dst, '"', ':')
			dst = append(dst, m.val...)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}', '\n'), t
}

// appendHead opens a record with _time, service and the container's fields.
func appendHead(dst []byte, s *source, t time.Time) []byte {
	dst = append(dst, `{"_time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if s.head != nil {
		return append(dst, s.head...)
	}
	return appendSourceFields(dst, s)
}

// appendSourceFields appends service and the container's fields (what a
// container's records share; the queue keeps it per container).
func appendSourceFields(dst []byte, s *source) []byte {
	dst = appendKey(dst, FieldService)
	dst = jsonx.AppendBytes(dst, s.service)
	if len(s.function) > 0 {
		dst = appendKey(dst, FieldFunction)
		dst = jsonx.AppendBytes(dst, s.function)
	}
	if len(s.project) > 0 {
		dst = appendKey(dst, FieldProject)
		dst = jsonx.AppendBytes(dst, s.project)
	}
	if len(s.containerID) > 0 {
		dst = appendKey(dst, FieldContainerID)
		dst = jsonx.AppendBytes(dst, s.containerID)
	}
	return dst
}

func appendKey(dst []byte, k string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

func isString(v []byte) bool { return len(v) >= 2 && v[0] == '"' }

// sameSpan reports whether a and b are the same bytes of one line (not
// merely equal text).
func sameSpan(a, b []byte) bool {
	return len(a) > 0 && len(a) == len(b) && &a[0] == &b[0]
}

// textLevel finds the level of a plain-text line: "[ERROR] …" (AWS's
// Python format), "level=warn …" (slog's text handler), "ERROR: …",
// "WARNING:root:…". It returns "" when it finds none.
func textLevel(line []byte) string {
	if len(line) > 256 {
		line = line[:256]
	}
	if i := bytes.Index(line, []byte("level=")); i >= 0 {
		w := line[i+6:]
		n := 0
		for n < len(w) && w[n] != ' ' && w[n] != '\t' {
			n++
		}
		if n > 0 {
			return normalLevel(bytes.Trim(w[:n], `"`))
		}
	}
	w := line
	if len(w) > 0 && w[0] == '[' {
		w = w[1:]
	}
	n := 0
	for n < len(w) && w[n] >= 'A' && w[n] <= 'Z' {
		n++
	}
	if n >= 4 && n < len(w) && (w[n] == ']' || w[n] == ':') {
		switch lv := normalLevel(w[:n]); lv {
		case "debug", "info", "warn", "error", "critical", "fatal", "trace":
			return lv
		}
	}
	return ""
}

// parseTime parses RFC 3339 times the way slog and esb-rie write them
// (2006-01-02T15:04:05.999999999Z07:00) without allocating; anything else
// goes through time.Parse.
func parseTime(b []byte) (time.Time, bool) {
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		t, err := time.Parse(time.RFC3339Nano, string(b))
		return t, err == nil
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, false
	}
	i := 19
	ns := 0
	if i < len(b) && b[i] == '.' {
		i++
		digits := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 9 {
				ns = ns*10 + int(b[i]-'0')
				digits++
			}
			i++
		}
		if digits == 0 {
			return time.Time{}, false
		}
		for ; digits < 9; digits++ {
			ns *= 10
		}
	}
	if i >= len(b) {
		return time.Time{}, false
	}
	offset := 0
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return time.Time{}, false
		}
		oh, ok1 := num(b[i+1 : i+3])
		om, ok2 := num(b[i+4 : i+6])
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, false
	}
	if i != len(b) {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}
