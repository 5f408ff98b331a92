package rie

import "bytes"

// detectLevel finds the log level a runtime line announces, or "" when it
// announces none. It recognises, at the start of the line:
//
//	{"level":"warn",...}              JSON logs (keys level, levelname, severity)
//	[ERROR] ...                       AWS's Python format, many others
//	2024-01-01T00:00:00.000Z\t<id>\tINFO\t...   AWS's Node.js format
//	WARNING:root:...  ERROR ...       Python logging's default, plain prefixes
//	time=... level=INFO msg=...       log/slog's text format
//
// Names are normalised to trace, debug, info, warn, error, fatal.
func detectLevel(line []byte) string {
	if len(line) == 0 {
		return ""
	}
	switch line[0] {
	case '{':
		return jsonLevel(line)
	case '[':
		if end := bytes.IndexByte(line[:min(len(line), 12)], ']'); end > 1 {
			return levelName(line[1:end])
		}
		return ""
	}
	// AWS Node.js text format: timestamp TAB request id TAB LEVEL TAB message.
	if t1 := bytes.IndexByte(line[:min(len(line), 40)], '\t'); t1 > 0 {
		rest := line[t1+1:]
		if t2 := bytes.IndexByte(rest[:min(len(rest), 64)], '\t'); t2 >= 0 {
			rest = rest[t2+1:]
			if t3 := bytes.IndexByte(rest[:min(len(rest), 8)], '\t'); t3 > 0 {
				if lv := levelName(rest[:t3]); lv != "" {
					return lv
				}
			}
		}
	}
	// Plain prefix: "ERROR: ...", "WARNING:root:...", "INFO ...".
	end := 0
	for end < len(line) && end < 9 && isUpperASCII(line[end]) {
		end++
	}
	if end >= 4 && end < len(line) && (line[end] == ':' || line[end] == ' ') {
		if lv := levelName(line[:end]); lv != "" {
			return lv
		}
	}
	// log/slog text handler and logfmt: "... level=INFO ...".
	head := line[:min(len(line), 80)]
	if i := bytes.Index(head, []byte("level=")); i == 0 || (i > 0 && head[i-1] == ' ') {
		v := line[i+len("level="):]
		n := 0
		for n < len(v) && n < 8 && v[n] != ' ' {
			n++
		}
		return levelName(v[:n])
	}
	return ""
}

func isUpperASCII(c byte) bool { return c >= 'A' && c <= 'Z' }

// jsonLevel reads the value of a "level" (or "levelname", "severity") key
// without decoding the whole object.
func jsonLevel(line []byte) string {
	for _, key := range [...]string{`"level"`, `"levelname"`, `"severity"`} {
		i := bytes.Index(line, []byte(key))
		if i < 0 {
			continue
		}
		v := line[i+len(key):]
		j := 0
		for j < len(v) && (v[j] == ' ' || v[j] == ':') {
			j++
		}
		if j >= len(v) || v[j] != '"' {
			continue
		}
		v = v[j+1:]
		end := bytes.IndexByte(v[:min(len(v), 12)], '"')
		if end < 0 {
			continue
		}
		if lv := levelName(v[:end]); lv != "" {
			return lv
		}
	}
	return ""
}

// levelName normalises a level word, case-insensitively.
func levelName(b []byte) string {
	var w [8]byte
	if len(b) == 0 || len(b) > len(w) {
		return ""
	}
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		w[i] = c
	}
	switch string(w[:len(b)]) {
	case "trace":
		return "trace"
	case "debug":
		return "debug"
	case "info", "notice":
		return "info"
	case "warn", "warning":
		return "warn"
	case "error", "err":
		return "error"
	case "fatal", "critical", "crit", "panic":
		return "fatal"
	}
	return ""
}
