package pool

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
)

// fakeClock is a manual clock: timers fire when Advance passes their deadline.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c        chan time.Time
	deadline time.Time
	stopped  bool
	fired    bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), deadline: c.now.Add(d)}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.stopped && !t.fired && !t.deadline.After(c.now) {
			t.fired = true
			t.c <- c.now
		}
	}
	c.mu.Unlock()
}

// pending counts timers not yet fired or stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped && !t.fired {
			n++
		}
	}
	return n
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// fakeAgent keeps containers in memory.
type fakeAgent struct {
	clock *fakeClock

	mu         sync.Mutex
	next       int
	live       map[string]*agentv1.ContainerSummary
	maxLive    map[string]int
	ensured    int
	destroyed  []string
	paused     map[string]bool
	pauses     int
	resumes    int
	failEnsure error
	gate       chan struct{} // when set, EnsureContainer waits for a value
	listErr    error
	noPause    bool
}

func newFakeAgent(c *fakeClock) *fakeAgent {
	return &fakeAgent{clock: c, live: map[string]*agentv1.ContainerSummary{}, maxLive: map[string]int{}, paused: map[string]bool{}}
}

func (a *fakeAgent) EnsureContainer(ctx context.Context, in *agentv1.EnsureContainerRequest, _ ...grpc.CallOption) (*agentv1.EnsureContainerResponse, error) {
	a.mu.Lock()
	gate := a.gate
	a.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, status.Error(codes.DeadlineExceeded, "ensure timed out")
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failEnsure != nil {
		return nil, a.failEnsure
	}
	a.next++
	a.ensured++
	id := fmt.Sprintf("c%d", a.next)
	a.live[id] = &agentv1.ContainerSummary{Id: id, Function: in.Function, Project: in.Project, Status: "running",
		CreatedAtMs: a.clock.Now().UnixMilli(), Ip: "10.0.0." + fmt.Sprint(a.next), Port: 8080}
	n := 0
	for _, c := range a.live {
		if c.Function == in.Function {
			n++
		}
	}
	if n > a.maxLive[in.Function] {
		a.maxLive[in.Function] = n
	}
	return &agentv1.EnsureContainerResponse{Worker: &agentv1.WorkerInfo{Id: id, Name: "esb-" + id, Ip: a.live[id].Ip, Port: 8080, Function: in.Function}}, nil
}

func (a *fakeAgent) DestroyContainer(_ context.Context, in *agentv1.DestroyContainerRequest, _ ...grpc.CallOption) (*agentv1.DestroyContainerResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.live, in.Id)
	a.destroyed = append(a.destroyed, in.Id)
	return &agentv1.DestroyContainerResponse{}, nil
}

func (a *fakeAgent) ListContainers(_ context.Context, in *agentv1.ListContainersRequest, _ ...grpc.CallOption) (*agentv1.ListContainersResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listErr != nil {
		return nil, a.listErr
	}
	var out []*agentv1.ContainerSummary
	for _, c := range a.live {
		if in.Project == "" || c.Project == in.Project {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return &agentv1.ListContainersResponse{Containers: out}, nil
}

func (a *fakeAgent) PauseContainer(_ context.Context, in *agentv1.PauseContainerRequest, _ ...grpc.CallOption) (*agentv1.PauseContainerResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.noPause {
		a.pauses++
		return nil, status.Error(codes.Unimplemented, "pause is not supported by docker mode")
	}
	a.paused[in.Id] = true
	a.pauses++
	return &agentv1.PauseContainerResponse{}, nil
}

func (a *fakeAgent) ResumeContainer(_ context.Context, in *agentv1.ResumeContainerRequest, _ ...grpc.CallOption) (*agentv1.ResumeContainerResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.paused[in.Id] {
		return nil, status.Error(codes.FailedPrecondition, "not paused")
	}
	delete(a.paused, in.Id)
	a.resumes++
	return &agentv1.ResumeContainerResponse{}, nil
}

func (a *fakeAgent) liveCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.live)
}

func (a *fakeAgent) isLive(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.live[id]
	return ok
}

// addForeign adds a container the gateway does not know (an orphan).
func (a *fakeAgent) addForeign(id, project string, created time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.live[id] = &agentv1.ContainerSummary{Id: id, Function: "f", Project: project, Status: "running", CreatedAtMs: created.UnixMilli()}
}

// eventually polls cond for up to 2 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
