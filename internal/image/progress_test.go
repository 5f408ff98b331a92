package image

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the spinner goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressLines(t *testing.T) {
	var plain syncBuffer
	p := NewProgress(&plain, false)
	task := p.Start("fn")
	task.Step("go build")
	task.Done("fn  esb-fn:latest  done")
	p.Start("other").End()
	p.Close()
	if got := plain.String(); got != "fn  esb-fn:latest  done\n" {
		t.Errorf("plain output %q", got)
	}

	var tty syncBuffer
	p = NewProgress(&tty, true)
	task = p.Start("fn")
	task.Step("go build")
	time.Sleep(250 * time.Millisecond)
	task.Done("fn done")
	p.Close()
	out := tty.String()
	if !strings.Contains(out, "fn: go build") || !strings.Contains(out, "\r\033[Kfn done\n") || !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("terminal output %q", out)
	}
	var nilProgress *Progress
	nilProgress.Start("x").Done("y") // a nil Progress prints nothing and does not panic
	nilProgress.Close()
}
