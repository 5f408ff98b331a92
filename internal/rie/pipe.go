package rie

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// pipeReader turns one of the runtime's output pipes into log lines. It
// reads only while holding the sink's mutex, so LogSink.endInvoke can pull
// every byte the runtime wrote before it posted its result (the runtime
// flushes before posting; the bytes are then in the pipe) and print END
// after them.
type pipeReader struct {
	sink    *LogSink
	stream  string
	f       *os.File
	rc      syscall.RawConn
	fd      int
	buf     []byte
	partial []byte
	closed  bool
}

// newPipeReader wraps the read end of a pipe (as os.Pipe returns it, in
// non-blocking mode) and registers it with the sink.
func newPipeReader(sink *LogSink, stream string, f *os.File) (*pipeReader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("runtime %s pipe: %w", stream, err)
	}
	p := &pipeReader{sink: sink, stream: stream, f: f, rc: rc, buf: make([]byte, 32<<10)}
	if err := rc.Control(func(fd uintptr) { p.fd = int(fd) }); err != nil {
		return nil, fmt.Errorf("runtime %s pipe: %w", stream, err)
	}
	sink.addPipe(p)
	return p, nil
}

// run reads until the pipe's write end is closed by every process holding
// it, then unregisters and closes the pipe.
func (p *pipeReader) run() {
	for {
		eof := false
		err := p.rc.Read(func(uintptr) bool {
			p.sink.mu.Lock()
			defer p.sink.mu.Unlock()
			if p.closed {
				eof = true
				return true
			}
			n, end := p.readOnceLocked()
			if end {
				eof = true
				return true
			}
			return n > 0 // false: nothing there yet, wait until readable
		})
		if err != nil || eof {
			break
		}
	}
	p.sink.mu.Lock()
	if !p.closed {
		p.flushPartialLocked()
		p.sink.flushLocked()
		p.closed = true
		p.sink.removePipeLocked(p)
	}
	p.sink.mu.Unlock()
	_ = p.f.Close()
}

// readAvailableLocked reads what is in the pipe now, without waiting.
func (p *pipeReader) readAvailableLocked() {
	// Bounded, so a runtime writing without pause cannot hold END back
	// forever.
	for i := 0; i < 64 && !p.closed; i++ {
		if n, end := p.readOnceLocked(); n == 0 || end {
			return
		}
	}
}

// readOnceLocked does one non-blocking read and turns complete lines into
// log records. It reports the bytes read and whether the pipe is at its end.
func (p *pipeReader) readOnceLocked() (int, bool) {
	for {
		n, err := syscall.Read(p.fd, p.buf)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return 0, false
		case err != nil || n == 0:
			return 0, true
		}
		p.consumeLocked(p.buf[:n])
		p.sink.flushLocked()
		return n, false
	}
}

func (p *pipeReader) consumeLocked(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			p.partial = append(p.partial, data...)
			for len(p.partial) >= maxLineBytes {
				p.sink.runtimeLineLocked(p.stream, p.partial[:maxLineBytes])
				p.partial = append(p.partial[:0], p.partial[maxLineBytes:]...)
			}
			return
		}
		line := data[:i]
		data = data[i+1:]
		if len(p.partial) > 0 {
			p.partial = append(p.partial, line...)
			line = p.partial
		}
		p.emitLocked(line)
		p.partial = p.partial[:0]
	}
	if cap(p.partial) > maxLineBytes*2 {
		p.partial = nil
	}
}

// flushPartialLocked prints an unfinished last line (the runtime wrote no
// newline) as a line of its own.
func (p *pipeReader) flushPartialLocked() {
	if len(p.partial) > 0 {
		p.emitLocked(p.partial)
		p.partial = p.partial[:0]
	}
}

func (p *pipeReader) emitLocked(line []byte) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	for len(line) > maxLineBytes {
		p.sink.runtimeLineLocked(p.stream, line[:maxLineBytes])
		line = line[maxLineBytes:]
	}
	p.sink.runtimeLineLocked(p.stream, line)
}
