package logs

import (
	"encoding/binary"
	"time"
)

// Writers hand lines to the queue as raw entries: the line and where it
// came from, copied as they are. The shipper encodes them into records in
// batches, so a writer's cost is one copy under a mutex — the agent's
// goroutine that drains a worker's output is never slowed by encoding.
//
// Entry layout: flags (1 byte), read time (8 bytes, Unix ns), service,
// function, project, container id, stream (each 1 length byte + bytes),
// line (4 length bytes + bytes).

const (
	rawExpand   = 1 << 0 // the message may be a function's JSON line
	rawErrLevel = 1 << 1 // a line naming no level is an error (stderr)
)

// rawSource is a line's origin as a writer knows it.
type rawSource struct {
	service, function, project, containerID, stream string
	read                                            time.Time
	expand, stderr                                  bool
}

// appendRaw appends one entry.
func appendRaw(dst []byte, r *rawSource, line []byte) []byte {
	var flags byte
	if r.expand {
		flags |= rawExpand
	}
	if r.stderr {
		flags |= rawErrLevel
	}
	dst = append(dst, flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.read.UnixNano()))
	for _, s := range [...]string{r.service, r.function, r.project, r.containerID, r.stream} {
		if len(s) > 255 {
			s = s[:255]
		}
		dst = append(dst, byte(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(line)))
	return append(dst, line...)
}

// nextRaw decodes the entry at the start of b into s and returns its line
// and the entries after it; ok is false when b does not start with a whole
// entry (a segment cut short by a crash).
func nextRaw(b []byte, s *source) (line, rest []byte, ok bool) {
	if len(b) < 9 {
		return nil, nil, false
	}
	flags := b[0]
	s.read = time.Unix(0, int64(binary.LittleEndian.Uint64(b[1:9])))
	b = b[9:]
	for _, f := range [...]*[]byte{&s.service, &s.function, &s.project, &s.containerID, &s.stream} {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, nil, false
		}
		n := int(b[0])
		*f = b[1 : 1+n]
		b = b[1+n:]
	}
	if len(b) < 4 {
		return nil, nil, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if len(b)-4 < n {
		return nil, nil, false
	}
	s.expand = flags&rawExpand != 0
	s.level = "info"
	if flags&rawErrLevel != 0 {
		s.level = "error"
	}
	s.after, s.head = time.Time{}, nil
	return b[4 : 4+n], b[4+n:], true
}

// countRaw counts the whole entries in b.
func countRaw(b []byte) int {
	var s source
	n := 0
	for len(b) > 0 {
		var ok bool
		if _, b, ok = nextRaw(b, &s); !ok {
			break
		}
		n++
	}
	return n
}
