// Package logs is esb's log pipeline: one record shape for every line a
// function container or a daemon writes, collection without loss (bounded
// memory, then a bounded on-disk buffer, then a counted drop — never a
// blocked writer), shipping to VictoriaLogs over its JSON-lines API or to a
// local rotating JSON-lines store, and queries over either with the same
// filters and output (`esb logs`).
package logs

import (
	"strings"
	"time"
)

// Field names of a record, as stored (VictoriaLogs' _time and _msg, then
// esb's own). docs/logs.md lists them for users.
const (
	FieldTime        = "_time"
	FieldMsg         = "_msg"
	FieldLevel       = "level"
	FieldService     = "service"
	FieldFunction    = "function"
	FieldProject     = "project"
	FieldContainerID = "container_id"
	FieldRequestID   = "request_id"
	FieldTraceID     = "trace_id"
	FieldTraceRoot   = "trace_root"
	FieldStream      = "stream"
	FieldType        = "type"
	// FieldAttrs holds the members of a JSON line a function printed
	// (besides its message and level), nested: VictoriaLogs flattens them
	// to attrs.<key>.
	FieldAttrs = "attrs"
)

// ServiceFunction is the service of every line a function container writes.
const ServiceFunction = "function"

// StreamFields are VictoriaLogs' stream fields of esb's records.
const StreamFields = FieldService + "," + FieldFunction

// ownFields are the fields the pipeline sets itself; a source line's member
// of the same name is kept as attrs.<name>.
var ownFields = map[string]bool{
	FieldTime: true, FieldMsg: true, FieldService: true, FieldProject: true,
	FieldContainerID: true, FieldTraceRoot: true, "_stream": true, "_stream_id": true,
}

// Levels, lowest first. A record's level is one of these or whatever a
// source printed, lower-cased.
var levelRank = map[string]int{
	"trace": 0, "debug": 1, "info": 2, "notice": 2, "warn": 3,
	"error": 4, "critical": 5, "fatal": 5, "panic": 5,
}

// LevelRank orders levels for --level: the higher, the more severe; unknown
// levels rank as info.
func LevelRank(level string) int {
	if r, ok := levelRank[level]; ok {
		return r
	}
	return levelRank["info"]
}

// normalLevel lower-cases a level and folds synonyms (WARNING → warn,
// ERR → error, slog's DEBUG-4 → debug).
func normalLevel(b []byte) string {
	var buf [16]byte
	if len(b) > len(buf) {
		return strings.ToLower(string(b))
	}
	n := 0
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '+' || c == '-' { // slog's "INFO+2", "DEBUG-4"
			break
		}
		buf[n] = c
		n++
	}
	switch string(buf[:n]) { // no allocation: the compiler compares in place
	case "info", "information", "informational":
		return "info"
	case "warn", "warning":
		return "warn"
	case "error", "err":
		return "error"
	case "debug":
		return "debug"
	case "trace":
		return "trace"
	case "fatal":
		return "fatal"
	case "critical", "crit":
		return "critical"
	case "panic":
		return "panic"
	case "notice":
		return "notice"
	}
	return string(buf[:n])
}

// TraceRoot returns the Root part of an X-Ray trace header
// ("Root=1-5f1c…-…;Parent=…;Sampled=1" → "1-5f1c…-…"); a bare root is
// returned as it is.
func TraceRoot(h string) string {
	for len(h) > 0 {
		part := h
		if i := strings.IndexByte(h, ';'); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			h = ""
		}
		part = strings.TrimSpace(part)
		if len(part) > 5 && strings.EqualFold(part[:5], "root=") {
			return part[5:]
		}
		if strings.HasPrefix(part, "1-") && !strings.Contains(part, "=") {
			return part
		}
	}
	return ""
}

// traceRootBytes is TraceRoot on a raw header without allocating.
func traceRootBytes(h []byte) []byte {
	for len(h) > 0 {
		part := h
		if i := indexByte(h, ';'); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		for len(part) > 0 && part[0] == ' ' {
			part = part[1:]
		}
		if len(part) > 5 && (part[0] == 'R' || part[0] == 'r') && string(part[1:5]) == "oot=" {
			return part[5:]
		}
		if len(part) > 2 && part[0] == '1' && part[1] == '-' && indexByte(part, '=') < 0 {
			return part
		}
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// Entry is one record as a query returns it: every field as a string
// (nested objects flattened to a.b, numbers and booleans as their JSON
// text), the way VictoriaLogs returns records.
type Entry struct {
	// Time is _time parsed.
	Time time.Time
	// Fields in a stable order: esb's fields first, then the others sorted.
	Fields []Field
}

// Field is one field of an Entry.
type Field struct {
	Name, Value string
}

// Get returns the value of a field, "" when absent.
func (e *Entry) Get(name string) string {
	for _, f := range e.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// fieldOrder is where esb's own fields go in an Entry and in --json output.
var fieldOrder = map[string]int{
	FieldTime: 0, FieldService: 1, FieldFunction: 2, FieldProject: 3, FieldContainerID: 4,
	FieldStream: 5, FieldLevel: 6, FieldType: 7, FieldRequestID: 8, FieldTraceID: 9, FieldTraceRoot: 10,
	FieldMsg: 11,
}
