package agent

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LogLine is one line a worker wrote to stdout or stderr.
type LogLine struct {
	Function    string
	Project     string
	ContainerID string
	// Stream is "stdout" or "stderr".
	Stream string
	// Time is when the agent read the line.
	Time time.Time
	// Text is the line without its newline. It is valid only during the
	// WriteLine call; a sink that keeps it must copy it.
	Text []byte
}

// LogSink receives every line of every worker's output (the log pipeline
// implements it). WriteLine is called from one goroutine per stream and must
// not block for long.
type LogSink interface {
	WriteLine(l LogLine)
}

// SlogSink is the LogSink used until a log pipeline is configured: it writes
// each line to a slog.Logger with the function and container id.
type SlogSink struct {
	Logger *slog.Logger
}

// WriteLine logs l at info level.
func (s SlogSink) WriteLine(l LogLine) {
	s.Logger.LogAttrs(context.Background(), slog.LevelInfo, "worker output",
		slog.String("function", l.Function),
		slog.String("container", l.ContainerID),
		slog.String("stream", l.Stream),
		slog.String("line", string(l.Text)))
}

// maxLineBytes bounds one log line; longer lines are split.
const maxLineBytes = 256 << 10

// tailLines is how many of a starting worker's last lines an error shows.
const tailLines = 30

// workerLog fans one container's streams into the sink, keeping the last
// lines while the worker starts so a failure can show them.
type workerLog struct {
	sink     LogSink
	function string
	project  string

	// id is set (by Output.Created) before any output is streamed.
	id      string
	tailing atomic.Bool // lines are kept in tail while the worker starts

	mu   sync.Mutex
	tail []string // nil once the worker is ready
	next int
	full bool
	// done is closed when both streams have ended.
	done    chan struct{}
	running int
}

func newWorkerLog(sink LogSink, function, project string) *workerLog {
	w := &workerLog{sink: sink, function: function, project: project,
		tail: make([]string, tailLines), done: make(chan struct{}), running: 2}
	w.tailing.Store(true)
	return w
}

// output returns the writers a Runtime streams into.
func (w *workerLog) output() Output {
	return Output{
		Stdout:  &lineWriter{log: w, stream: "stdout"},
		Stderr:  &lineWriter{log: w, stream: "stderr"},
		Created: w.setID,
	}
}

// setID records the container id; runtimes call it (Output.Created) before
// they stream any output.
func (w *workerLog) setID(id string) { w.id = id }

// stopTail drops the kept lines: the worker is ready.
func (w *workerLog) stopTail() {
	w.tailing.Store(false)
	w.mu.Lock()
	w.tail = nil
	w.mu.Unlock()
}

// lastLines returns the kept lines, oldest first.
func (w *workerLog) lastLines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tail == nil {
		return nil
	}
	var out []string
	if w.full {
		out = append(out, w.tail[w.next:]...)
	}
	out = append(out, w.tail[:w.next]...)
	return out
}

// waitDrained waits until both streams ended or d passed.
func (w *workerLog) waitDrained(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
	}
}

func (w *workerLog) line(stream string, text []byte, now time.Time) {
	if w.tailing.Load() {
		w.mu.Lock()
		if w.tail != nil {
			w.tail[w.next] = stream + ": " + string(text)
			w.next++
			if w.next == len(w.tail) {
				w.next, w.full = 0, true
			}
		}
		w.mu.Unlock()
	}
	w.sink.WriteLine(LogLine{Function: w.function, Project: w.project, ContainerID: w.id,
		Stream: stream, Time: now, Text: text})
}

func (w *workerLog) streamClosed() {
	w.mu.Lock()
	w.running--
	if w.running == 0 {
		close(w.done)
	}
	w.mu.Unlock()
}

// lineWriter splits one stream into lines.
type lineWriter struct {
	log    *workerLog
	stream string
	buf    []byte
	closed bool
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	now := time.Now() // every line of one read arrived at the same time
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.buf = append(l.buf, p...)
			for len(l.buf) >= maxLineBytes {
				l.log.line(l.stream, l.buf[:maxLineBytes], now)
				l.buf = l.buf[:copy(l.buf, l.buf[maxLineBytes:])]
			}
			break
		}
		if len(l.buf) > 0 {
			l.buf = append(l.buf, p[:i]...)
			l.log.line(l.stream, trimCR(l.buf), now)
			l.buf = l.buf[:0]
		} else {
			l.log.line(l.stream, trimCR(p[:i]), now)
		}
		p = p[i+1:]
	}
	return n, nil
}

// Close flushes an unterminated last line.
func (l *lineWriter) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	if len(l.buf) > 0 {
		l.log.line(l.stream, trimCR(l.buf), time.Now())
		l.buf = nil
	}
	l.log.streamClosed()
	return nil
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// formatTail renders kept lines for an error message.
func formatTail(lines []string) string {
	if len(lines) == 0 {
		return "(the container wrote no output)"
	}
	return strings.Join(lines, "\n")
}
