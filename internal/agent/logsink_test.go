package agent

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestLineWriterSplitsAndKeepsTail(t *testing.T) {
	sink := &memSink{}
	w := newWorkerLog(sink, "Fn", "p")
	out := w.output()
	out.Created("id1")
	for _, chunk := range []string{"a", "b\nc\r\n", "", "d\ne", "\n\n"} {
		out.Stdout.Write([]byte(chunk))
	}
	out.Stderr.Write([]byte("no newline at end"))
	out.Stdout.Close()
	out.Stdout.Close() // twice is harmless
	select {
	case <-w.done:
		t.Fatal("done before both streams closed")
	default:
	}
	out.Stderr.Close()
	w.waitDrained(time.Second)
	select {
	case <-w.done:
	default:
		t.Fatal("not done after both streams closed")
	}
	want := []string{"Fn|id1|stdout|ab", "Fn|id1|stdout|c", "Fn|id1|stdout|d", "Fn|id1|stdout|e", "Fn|id1|stdout|", "Fn|id1|stderr|no newline at end"}
	if got := sink.all(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tail := w.lastLines(); len(tail) != 6 || tail[0] != "stdout: ab" || tail[5] != "stderr: no newline at end" {
		t.Fatalf("tail %q", tail)
	}
	w.stopTail()
	if w.lastLines() != nil {
		t.Fatal("tail kept after stopTail")
	}
}

func TestTailKeepsLastLines(t *testing.T) {
	w := newWorkerLog(&memSink{}, "Fn", "")
	out := w.output()
	for i := 0; i < tailLines+5; i++ {
		out.Stdout.Write([]byte(strings.Repeat("x", i) + "\n"))
	}
	tail := w.lastLines()
	if len(tail) != tailLines || tail[0] != "stdout: "+strings.Repeat("x", 5) || tail[tailLines-1] != "stdout: "+strings.Repeat("x", tailLines+4) {
		t.Fatalf("tail has %d lines, first %q", len(tail), tail[0])
	}
}

func TestLongLinesAreSplit(t *testing.T) {
	sink := &memSink{}
	w := newWorkerLog(sink, "Fn", "")
	out := w.output()
	out.Stdout.Write(bytes.Repeat([]byte("y"), maxLineBytes+10))
	out.Stdout.Write([]byte("\n"))
	got := sink.all()
	if len(got) != 2 || len(got[0]) != len("Fn||stdout|")+maxLineBytes || got[1] != "Fn||stdout|"+strings.Repeat("y", 10) {
		t.Fatalf("got %d lines", len(got))
	}
}

func TestProbeNeedsHTTP(t *testing.T) {
	// A listener that accepts and closes at once is not ready.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = waitReady(ctx, l.Addr().String(), nil)
	if err == nil || !strings.Contains(err.Error(), "no HTTP answer") {
		t.Fatalf("waitReady = %v", err)
	}
	// An exit while waiting wins over the timeout.
	exited := make(chan Exit, 1)
	exited <- Exit{Code: 9}
	err = waitReady(context.Background(), "127.0.0.1:1", exited)
	if err == nil || err.Error() != "exit code 9" {
		t.Fatalf("waitReady with exit = %v", err)
	}
}
