package logs

import (
	"slices"
	"strings"
	"time"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

// parseEntry reads one stored record (a JSON object, from the local store or
// VictoriaLogs) into an Entry: values as strings, nested objects flattened
// with dots, VictoriaLogs' _stream and _stream_id left out.
func parseEntry(line []byte) (Entry, bool) {
	ms, ok := scanObject(nil, line)
	if !ok {
		return Entry{}, false
	}
	var e Entry
	e.Fields = make([]Field, 0, len(ms)+2)
	e.Fields = flatten(e.Fields, "", ms, 0)
	for i, f := range e.Fields {
		if f.Name == FieldTime {
			t, ok := parseTime([]byte(f.Value))
			if !ok {
				return Entry{}, false
			}
			e.Time = t
			// One spelling, whichever store it came from.
			e.Fields[i].Value = t.UTC().Format(time.RFC3339Nano)
			break
		}
	}
	if e.Time.IsZero() {
		return Entry{}, false
	}
	sortFields(e.Fields)
	return e, true
}

func flatten(dst []Field, prefix string, ms []member, depth int) []Field {
	var scratch []byte
	for _, m := range ms {
		key := string(m.key)
		if hasEscape(m.key) {
			key = string(unescape(nil, m.key))
		}
		if prefix == "" && (key == "_stream" || key == "_stream_id") {
			continue
		}
		name := key
		if prefix != "" {
			name = prefix + "." + key
		}
		v := m.val
		switch v[0] {
		case '"':
			raw := v[1 : len(v)-1]
			if hasEscape(raw) {
				scratch = unescape(scratch[:0], raw)
				raw = scratch
			}
			if len(raw) == 0 && name != FieldMsg {
				continue // VictoriaLogs treats empty values as absent
			}
			dst = append(dst, Field{Name: name, Value: string(raw)})
		case '{':
			if depth < maxDepth {
				if inner, ok := scanObject(nil, v); ok {
					dst = flatten(dst, name, inner, depth+1)
					continue
				}
			}
			dst = append(dst, Field{Name: name, Value: string(v)})
		case 'n': // null
		default:
			dst = append(dst, Field{Name: name, Value: string(v)})
		}
	}
	return dst
}

// sortFields puts esb's fields first in their order, then the rest by name.
func sortFields(fs []Field) {
	slices.SortStableFunc(fs, func(a, b Field) int {
		ra, oka := fieldOrder[a.Name]
		rb, okb := fieldOrder[b.Name]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// appendEntryJSON appends e as one JSON object of strings (the --json
// output, the same from either store).
func appendEntryJSON(b []byte, e *Entry) []byte {
	b = append(b, '{')
	for i, f := range e.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, f.Name)
		b = append(b, ':')
		b = jsonx.AppendString(b, f.Value)
	}
	return append(b, '}', '\n')
}
