package image

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress prints one line per image as it is finished. On a terminal it
// also shows a live line with a spinner and the current step, rewritten in
// place. A nil *Progress prints nothing.
type Progress struct {
	w   io.Writer
	tty bool

	mu     sync.Mutex
	active []*Task // tasks in progress, oldest first
	stop   chan struct{}
	done   chan struct{}
}

// NewProgress writes progress to w; tty enables the live line.
func NewProgress(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty}
}

// Task is the progress of one image (or one preparatory step).
type Task struct {
	p     *Progress
	name  string
	step  string
	start time.Time
}

// spinner are the frames of the live line.
const spinner = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

// Start begins a task.
func (p *Progress) Start(name string) *Task {
	t := &Task{p: p, name: name, start: time.Now()}
	if p == nil || !p.tty {
		return t
	}
	p.mu.Lock()
	p.active = append(p.active, t)
	if p.stop == nil {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.spin(p.stop, p.done)
	}
	p.mu.Unlock()
	return t
}

func (p *Progress) spin(stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	frames := []rune(spinner)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		if n := len(p.active); n > 0 {
			t := p.active[n-1]
			more := ""
			if n > 1 {
				more = fmt.Sprintf(" (+%d more)", n-1)
			}
			fmt.Fprintf(p.w, "\r\033[K%s %s: %s %.1fs%s", string(frames[i%len(frames)]), t.name, t.step, time.Since(t.start).Seconds(), more)
		}
		p.mu.Unlock()
	}
}

// Step names what the task is doing now.
func (t *Task) Step(step string) {
	if t.p == nil {
		return
	}
	t.p.mu.Lock()
	t.step = step
	t.p.mu.Unlock()
}

// Done prints the task's final line.
func (t *Task) Done(line string) {
	t.finish(line)
}

// End ends the task without a line (an error is reported by the caller).
func (t *Task) End() {
	t.finish("")
}

func (t *Task) finish(line string) {
	p := t.p
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
		for i, a := range p.active {
			if a == t {
				p.active = append(p.active[:i], p.active[i+1:]...)
				break
			}
		}
	}
	if line != "" {
		fmt.Fprintln(p.w, line)
	}
}

// Close stops the live line.
func (p *Progress) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
		fmt.Fprint(p.w, "\r\033[K")
	}
}
