package logs

import (
	"errors"
	"hash/fnv"
	"strings"
	"time"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

// Format says how `esb logs` prints records.
type Format struct {
	// JSON prints each record as one JSON object of strings.
	JSON bool
	// Timestamps prefixes each line with its time (RFC 3339, UTC).
	Timestamps bool
	// Color uses ANSI colours (a terminal, NO_COLOR unset).
	Color bool
	// NameWidth pads the name column (0: 12).
	NameWidth int
}

const (
	ansiReset = "\x1b[0m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiYel   = "\x1b[33m"
	ansiBold  = "\x1b[1m"
)

// nameColors are the colours names cycle through (as docker compose does).
var nameColors = []string{"\x1b[36m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[92m", "\x1b[95m", "\x1b[94m"}

// Fields a readable line shows on its own, so they are not repeated as
// key=value.
var shownFields = map[string]bool{
	FieldTime: true, FieldMsg: true, FieldLevel: true, FieldService: true, FieldFunction: true,
	FieldProject: true, FieldContainerID: true, FieldStream: true, FieldType: true,
	FieldTraceRoot: true, "component": true,
}

// AppendEntry appends e as one line of output.
func (f Format) AppendEntry(b []byte, e *Entry) []byte {
	if f.JSON {
		return appendEntryJSON(b, e)
	}
	if f.Timestamps {
		b = f.dim(b, e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"))
		b = append(b, ' ')
	}
	name := e.Get(FieldFunction)
	svc := e.Get(FieldService)
	if name == "" || svc != ServiceFunction {
		if name != "" {
			name = svc + "/" + name
		} else {
			name = svc
		}
	}
	width := f.NameWidth
	if width <= 0 {
		width = 12
	}
	label := name
	if len(label) < width {
		label += strings.Repeat(" ", width-len(label))
	}
	if f.Color {
		b = append(b, nameColor(name)...)
		b = append(b, label...)
		b = append(b, " |"...)
		b = append(b, ansiReset...)
	} else {
		b = append(b, label...)
		b = append(b, " |"...)
	}
	b = append(b, ' ')

	level := e.Get(FieldLevel)
	msg := e.Get(FieldMsg)
	if e.Get(FieldType) == "access" {
		msg = accessLine(e)
	}
	rank := LevelRank(level)
	if svc != ServiceFunction && level != "" && level != "info" {
		b = f.levelColor(b, rank, strings.ToUpper(level))
		b = append(b, ' ')
	}
	// A multi-line record (Python's logging joins lines with \r, as on
	// AWS) continues under its first line.
	indent := width + 3
	if f.Timestamps {
		indent += len("2006-01-02T15:04:05.000000Z ")
	}
	if f.Color && rank >= LevelRank("error") {
		b = append(b, ansiRed...)
		b = appendLines(b, msg, indent)
		b = append(b, ansiReset...)
	} else if f.Color && rank == LevelRank("warn") {
		b = append(b, ansiYel...)
		b = appendLines(b, msg, indent)
		b = append(b, ansiReset...)
	} else {
		b = appendLines(b, msg, indent)
	}
	// A daemon's attributes, as slog's text handler shows them.
	if svc != ServiceFunction && e.Get(FieldType) != "access" {
		for _, fl := range e.Fields {
			if shownFields[fl.Name] {
				continue
			}
			b = append(b, ' ')
			b = f.dimKey(b, fl.Name)
			b = appendValue(b, fl.Value)
		}
	}
	return append(b, '\n')
}

// appendLines appends msg, breaking it at \r and \n into lines indented
// by indent spaces, and dropping other control characters but tabs.
func appendLines(b []byte, msg string, indent int) []byte {
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; {
		case c == '\r' || c == '\n':
			if c == '\r' && i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
			b = append(b, '\n')
			for j := 0; j < indent; j++ {
				b = append(b, ' ')
			}
		case c < 0x20 && c != '\t' || c == 0x7f:
		default:
			b = append(b, c)
		}
	}
	return b
}

// accessLine renders a gateway access record: GET /hello 200 12.3 ms cold.
func accessLine(e *Entry) string {
	var sb strings.Builder
	sb.WriteString(e.Get("method"))
	sb.WriteByte(' ')
	sb.WriteString(e.Get("path"))
	sb.WriteByte(' ')
	sb.WriteString(e.Get("status"))
	if l := e.Get("latency_ms"); l != "" {
		sb.WriteString(" " + l + " ms")
	}
	if e.Get("cold") == "true" {
		sb.WriteString(" cold")
	}
	if id := e.Get(FieldRequestID); id != "" {
		sb.WriteString(" request_id=" + id)
	}
	return sb.String()
}

func appendValue(b []byte, v string) []byte {
	if v == "" || strings.ContainsAny(v, " \t\"=\n") {
		return jsonx.AppendString(b, v)
	}
	return append(b, v...)
}

func (f Format) dim(b []byte, s string) []byte {
	if !f.Color {
		return append(b, s...)
	}
	b = append(b, ansiDim...)
	b = append(b, s...)
	return append(b, ansiReset...)
}

func (f Format) dimKey(b []byte, k string) []byte {
	if !f.Color {
		b = append(b, k...)
		return append(b, '=')
	}
	b = append(b, ansiDim...)
	b = append(b, k...)
	b = append(b, '=')
	return append(b, ansiReset...)
}

func (f Format) levelColor(b []byte, rank int, s string) []byte {
	if !f.Color {
		return append(b, s...)
	}
	switch {
	case rank >= LevelRank("error"):
		b = append(b, ansiBold+ansiRed...)
	case rank == LevelRank("warn"):
		b = append(b, ansiBold+ansiYel...)
	default:
		b = append(b, ansiDim...)
	}
	b = append(b, s...)
	return append(b, ansiReset...)
}

func nameColor(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return nameColors[h.Sum32()%uint32(len(nameColors))]
}

// ParseSince reads --since: a duration back from now ("10m", "2h", "1d")
// or a time (RFC 3339, or 2006-01-02 15:04:05 / 2006-01-02 in local time).
func ParseSince(s string, now time.Time) (time.Time, error) {
	if d, err := ParseAge(s); err == nil && s != "0" {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadSince
}

var errBadSince = errors.New("want a duration like 10m, 2h or 1d, or a time like 2026-11-27T16:00:00Z")
