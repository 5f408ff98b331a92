package rie

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

// Record types of JSON output lines (docs/contracts.md, "esb-rie output").
const (
	typeStart    = "platform.start"
	typeEnd      = "platform.end"
	typeReport   = "platform.report"
	typeInit     = "platform.init"
	typeError    = "platform.error"
	typeFunction = "function"
)

// maxLineBytes splits longer runtime lines, as CloudWatch Logs caps an event
// at 256 KiB.
const maxLineBytes = 256 << 10

// tailBytes is how much of an invoke's log X-Amz-Log-Result returns.
const tailBytes = 4 << 10

// LogSink writes esb-rie's output: the platform lines (START, END, REPORT,
// INIT_START, errors) and every line the runtime prints, attributed to the
// invoke in flight. All writes go through one mutex, so lines never
// interleave and END always follows the invoke's last runtime line.
type LogSink struct {
	mu       sync.Mutex
	w        io.Writer
	format   LogFormat
	function string
	now      func() time.Time
	msg      []byte // platform messages are built here
	out      []byte // formatted lines waiting for one write

	// The invoke runtime lines are attributed to (empty between invokes).
	requestID string
	traceID   string
	tail      *tailBuffer

	pipes      []*pipeReader
	startTimer *time.Timer // flushes a buffered START (see beginInvoke)
}

// NewLogSink returns a sink writing to w in the given format; function
// names the function in JSON records.
func NewLogSink(w io.Writer, format LogFormat, function string) *LogSink {
	return &LogSink{w: w, format: format, function: function, now: time.Now,
		msg: make([]byte, 0, 512), out: make([]byte, 0, 4096)}
}

// reportLine is what a REPORT line says.
type reportLine struct {
	requestID    string
	duration     time.Duration
	memoryMB     int
	maxMemoryMB  int
	initDuration time.Duration // 0: this invoke paid no init
	status       string        // "", "timeout" or "error"
	errorType    string        // with status "error"
}

// beginInvoke prints START and attributes the runtime's lines to the invoke
// until endInvoke. tail, when not nil, collects the invoke's log text.
func (l *LogSink) beginInvoke(requestID, traceID, version string, tail *tailBuffer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drainLocked()
	l.requestID, l.traceID, l.tail = requestID, traceID, tail
	msg := append(l.scratch(), "START RequestId: "...)
	msg = append(msg, requestID...)
	msg = append(msg, " Version: "...)
	msg = append(msg, version...)
	// START waits in the buffer for the next write (the runtime's first
	// line, or END and REPORT), so a quiet warm invoke costs one write to
	// stdout, not two; an invoke that runs longer gets it after
	// startFlushDelay.
	l.appendLocked(typeStart, "info", "", msg, nil)
	if l.startTimer == nil {
		l.startTimer = time.AfterFunc(startFlushDelay, l.flush)
	} else {
		l.startTimer.Reset(startFlushDelay)
	}
}

// startFlushDelay is how long START may wait in the buffer.
const startFlushDelay = 20 * time.Millisecond

// flush writes what is buffered.
func (l *LogSink) flush() {
	l.mu.Lock()
	l.flushLocked()
	l.mu.Unlock()
}

// endInvoke reads what the runtime printed so far, prints END and REPORT
// and detaches the invoke.
func (l *LogSink) endInvoke(r *reportLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drainLocked()
	for _, p := range l.pipes {
		p.flushPartialLocked()
	}
	msg := append(l.scratch(), "END RequestId: "...)
	msg = append(msg, r.requestID...)
	l.appendLocked(typeEnd, "info", "", msg, nil)

	msg = appendReport(msg[len(msg):], r)
	level := "info"
	if r.status != "" {
		level = "error"
	}
	l.writeLocked(typeReport, level, "", msg, r)
	l.requestID, l.traceID, l.tail = "", "", nil
	if l.startTimer != nil {
		l.startTimer.Stop()
	}
}

// platform prints a platform line (INIT_START, timeouts, esb-rie's own
// errors) attributed to the invoke in flight, if any.
func (l *LogSink) platform(typ, level, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeLocked(typ, level, "", append(l.scratch(), msg...), nil)
}

// platformFor prints a platform line attributed to the given invoke.
func (l *LogSink) platformFor(requestID, traceID, typ, level, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	saveID, saveTrace := l.requestID, l.traceID
	l.requestID, l.traceID = requestID, traceID
	l.writeLocked(typ, level, "", append(l.scratch(), msg...), nil)
	l.requestID, l.traceID = saveID, saveTrace
}

// drain reads everything the runtime has written so far.
func (l *LogSink) drain() {
	l.mu.Lock()
	l.drainLocked()
	l.mu.Unlock()
}

func (l *LogSink) drainLocked() {
	if len(l.pipes) == 0 {
		return
	}
	ready := readablePipes(l.pipes)
	for i, p := range l.pipes {
		if i >= 64 || ready&(1<<i) != 0 {
			p.readAvailableLocked()
		}
	}
}

func (l *LogSink) addPipe(p *pipeReader) {
	l.mu.Lock()
	l.pipes = append(l.pipes, p)
	l.mu.Unlock()
}

func (l *LogSink) removePipeLocked(p *pipeReader) {
	for i, q := range l.pipes {
		if q == p {
			l.pipes = append(l.pipes[:i], l.pipes[i+1:]...)
			return
		}
	}
}

// scratch returns the reusable buffer platform messages are built in.
func (l *LogSink) scratch() []byte {
	return l.msg[:0]
}

// runtimeLineLocked formats one line the runtime wrote on stream; the
// caller flushes.
func (l *LogSink) runtimeLineLocked(stream string, line []byte) {
	level := detectLevel(line)
	if level == "" {
		level = "info"
		if stream == "stderr" {
			level = "error"
		}
	}
	l.appendLocked(typeFunction, level, stream, line, nil)
}

// writeLocked formats one line and writes it out.
func (l *LogSink) writeLocked(typ, level, stream string, msg []byte, r *reportLine) {
	l.appendLocked(typ, level, stream, msg, r)
	l.flushLocked()
}

// appendLocked formats one line into the output buffer (and the invoke's
// tail); flushLocked writes the buffer with one write call.
func (l *LogSink) appendLocked(typ, level, stream string, msg []byte, r *reportLine) {
	if l.tail != nil {
		l.tail.write(msg)
		l.tail.write(newline)
	}
	if l.format == LogText {
		l.out = append(l.out, msg...)
		l.out = append(l.out, '\n')
		return
	}
	l.out = l.appendJSON(l.out, typ, level, stream, msg, r)
}

func (l *LogSink) flushLocked() {
	if len(l.out) == 0 {
		return
	}
	_, _ = l.w.Write(l.out)
	if cap(l.out) > 1<<20 {
		l.out = make([]byte, 0, 4096)
	} else {
		l.out = l.out[:0]
	}
	if cap(l.msg) > 1<<20 {
		l.msg = make([]byte, 0, 512)
	}
}

var newline = []byte{'\n'}

func (l *LogSink) appendJSON(b []byte, typ, level, stream string, msg []byte, r *reportLine) []byte {
	b = append(b, `{"time":"`...)
	b = l.now().UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","function":`...)
	b = jsonx.AppendString(b, l.function)
	if l.requestID != "" {
		b = append(b, `,"request_id":`...)
		b = jsonx.AppendString(b, l.requestID)
	}
	if l.traceID != "" {
		b = append(b, `,"trace_id":`...)
		b = jsonx.AppendString(b, l.traceID)
	}
	if stream != "" {
		b = append(b, `,"stream":"`...)
		b = append(b, stream...)
		b = append(b, '"')
	}
	if r != nil {
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendFloat(b, ms(r.duration), 'f', 2, 64)
		b = append(b, `,"billed_duration_ms":`...)
		b = strconv.AppendInt(b, billedMS(r.duration), 10)
		b = append(b, `,"memory_size_mb":`...)
		b = strconv.AppendInt(b, int64(r.memoryMB), 10)
		b = append(b, `,"max_memory_used_mb":`...)
		b = strconv.AppendInt(b, int64(r.maxMemoryMB), 10)
		if r.initDuration > 0 {
			b = append(b, `,"init_duration_ms":`...)
			b = strconv.AppendFloat(b, ms(r.initDuration), 'f', 2, 64)
		}
		if r.status != "" {
			b = append(b, `,"status":"`...)
			b = append(b, r.status...)
			b = append(b, '"')
		}
		if r.errorType != "" {
			b = append(b, `,"error_type":`...)
			b = jsonx.AppendString(b, r.errorType)
		}
	}
	b = append(b, `,"message":`...)
	b = jsonx.AppendBytes(b, msg)
	b = append(b, "}\n"...)
	return b
}

// appendReport formats a REPORT line the way AWS prints it.
func appendReport(b []byte, r *reportLine) []byte {
	b = append(b, "REPORT RequestId: "...)
	b = append(b, r.requestID...)
	b = append(b, "\tDuration: "...)
	b = strconv.AppendFloat(b, ms(r.duration), 'f', 2, 64)
	b = append(b, " ms\tBilled Duration: "...)
	b = strconv.AppendInt(b, billedMS(r.duration), 10)
	b = append(b, " ms\tMemory Size: "...)
	b = strconv.AppendInt(b, int64(r.memoryMB), 10)
	b = append(b, " MB\tMax Memory Used: "...)
	b = strconv.AppendInt(b, int64(r.maxMemoryMB), 10)
	b = append(b, " MB\t"...)
	if r.initDuration > 0 {
		b = append(b, "Init Duration: "...)
		b = strconv.AppendFloat(b, ms(r.initDuration), 'f', 2, 64)
		b = append(b, " ms\t"...)
	}
	if r.status != "" {
		b = append(b, "Status: "...)
		b = append(b, r.status...)
		b = append(b, '\t')
		if r.errorType != "" {
			b = append(b, "Error Type: "...)
			b = append(b, r.errorType...)
			b = append(b, '\t')
		}
	}
	return b
}

// ms converts a duration to milliseconds with fractions.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// billedMS rounds a duration up to whole milliseconds, as AWS bills.
func billedMS(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

const hexDigits = "0123456789abcdef" // for ids

// tailBuffer keeps the last tailBytes bytes written to it.
type tailBuffer struct {
	buf [tailBytes]byte
	n   int // bytes written in total
}

func (t *tailBuffer) write(p []byte) {
	if len(p) > tailBytes {
		t.n += len(p) - tailBytes
		p = p[len(p)-tailBytes:]
	}
	for len(p) > 0 {
		c := copy(t.buf[t.n%tailBytes:], p)
		t.n += c
		p = p[c:]
	}
}

// bytes returns the kept bytes, oldest first.
func (t *tailBuffer) bytes() []byte {
	if t.n <= tailBytes {
		return append([]byte(nil), t.buf[:t.n]...)
	}
	off := t.n % tailBytes
	out := make([]byte, 0, tailBytes)
	out = append(out, t.buf[off:]...)
	return append(out, t.buf[:off]...)
}

// sinkHandler is a log/slog handler for esb-rie's own diagnostics in JSON
// mode: each record becomes a platform.error line on the sink, so the
// container's output stays one JSON object per line.
type sinkHandler struct {
	sink  *LogSink
	level slog.Leveler
	attrs []slog.Attr
}

func (h *sinkHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("esb-rie: ")
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		b.WriteString(a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	level := "info"
	switch {
	case r.Level >= slog.LevelError:
		level = "error"
	case r.Level >= slog.LevelWarn:
		level = "warn"
	case r.Level < slog.LevelInfo:
		level = "debug"
	}
	h.sink.platform(typeError, level, b.String())
	return nil
}

func (h *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &sinkHandler{sink: h.sink, level: h.level, attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }
