package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func setup(t *testing.T, max, min int, mod func(*Config)) (*Manager, *Pool, *fakeAgent, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	ag := newFakeAgent(clk)
	cfg := Config{Project: "p", AcquireTimeout: 5 * time.Second, IdleTimeout: 300 * time.Second,
		HeartbeatInterval: 30 * time.Second, OrphanGrace: 60 * time.Second, StartTimeout: time.Second, Clock: clk}
	if mod != nil {
		mod(&cfg)
	}
	m := NewManager(cfg, ag)
	m.Sync(map[string]Spec{"fn": {Image: "img", MaxCapacity: max, MinCapacity: min, Env: map[string]string{"A": "1"}}})
	return m, m.Pool("fn"), ag, clk
}

func TestWarmReuseAndCold(t *testing.T) {
	_, p, ag, _ := setup(t, 2, 0, nil)
	ctx := context.Background()
	w, cold, err := p.Acquire(ctx)
	if err != nil || !cold {
		t.Fatalf("first acquire: cold=%v err=%v", cold, err)
	}
	if w.Addr != "10.0.0.1:8080" || w.URL != "http://10.0.0.1:8080/2015-03-31/functions/function/invocations" {
		t.Errorf("worker address: %s %s", w.Addr, w.URL)
	}
	p.Release(w, true)
	w2, cold, err := p.Acquire(ctx)
	if err != nil || cold || w2 != w {
		t.Fatalf("second acquire must reuse the warm worker: cold=%v same=%v err=%v", cold, w2 == w, err)
	}
	p.Release(w2, true)
	if ag.ensured != 1 {
		t.Errorf("ensured %d containers, want 1", ag.ensured)
	}
	st := p.Stats()
	if st.Idle != 1 || st.Busy != 0 || st.ColdStarts != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestCapacityAndFIFO(t *testing.T) {
	_, p, ag, _ := setup(t, 1, 0, nil)
	ctx := context.Background()
	held, _, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 1; i <= 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, cold, err := p.Acquire(ctx)
			if err != nil || cold {
				t.Errorf("waiter %d: cold=%v err=%v", i, cold, err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			p.Release(w, true)
		}()
		// queue the waiters one after the other
		eventually(t, "waiter queued", func() bool { return p.Stats().Waiting == i })
	}
	p.Release(held, true)
	wg.Wait()
	if len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 3 {
		t.Errorf("waiters served in order %v, want [1 2 3]", order)
	}
	if ag.ensured != 1 || ag.maxLive["fn"] != 1 {
		t.Errorf("ensured %d, max live %d; want 1 and 1", ag.ensured, ag.maxLive["fn"])
	}
}

func TestAcquireTimeoutThrottles(t *testing.T) {
	_, p, _, clk := setup(t, 1, 0, nil)
	ctx := context.Background()
	held, _, _ := p.Acquire(ctx)
	errc := make(chan error, 1)
	go func() {
		_, _, err := p.Acquire(ctx)
		errc <- err
	}()
	eventually(t, "waiter queued", func() bool { return p.Stats().Waiting == 1 && clk.pending() == 1 })
	clk.Advance(4 * time.Second)
	select {
	case err := <-errc:
		t.Fatalf("returned before the timeout: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(time.Second)
	if err := <-errc; !errors.Is(err, ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if st := p.Stats(); st.Waiting != 0 || st.Throttles != 1 {
		t.Errorf("stats after timeout: %+v", st)
	}
	p.Release(held, true)
	// The pool still works after a throttled waiter left.
	w, cold, err := p.Acquire(ctx)
	if err != nil || cold || w != held {
		t.Fatalf("after throttle: %v %v", cold, err)
	}
}

func TestCancelledWaiterLeavesQueue(t *testing.T) {
	_, p, _, _ := setup(t, 1, 0, nil)
	held, _, _ := p.Acquire(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, _, err := p.Acquire(ctx); errc <- err }()
	eventually(t, "queued", func() bool { return p.Stats().Waiting == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	p.Release(held, true)
	if st := p.Stats(); st.Idle != 1 || st.Waiting != 0 {
		t.Errorf("worker must be idle after the waiter left: %+v", st)
	}
}

func TestEvictionDestroysAndFreesCapacity(t *testing.T) {
	_, p, ag, _ := setup(t, 1, 0, nil)
	ctx := context.Background()
	w, _, _ := p.Acquire(ctx)
	got := make(chan *Worker, 1)
	go func() {
		w2, cold, err := p.Acquire(ctx)
		if err != nil || !cold {
			t.Errorf("waiter after eviction: cold=%v err=%v", cold, err)
		}
		got <- w2
	}()
	eventually(t, "queued", func() bool { return p.Stats().Waiting == 1 })
	p.Release(w, false)
	w2 := <-got
	if w2 == nil || w2.ID == w.ID {
		t.Fatal("an evicted worker must never be reused")
	}
	eventually(t, "destroyed", func() bool { return !ag.isLive(w.ID) })
	if p.Stats().Evictions != 1 {
		t.Errorf("evictions: %+v", p.Stats())
	}
}

func TestStartFailures(t *testing.T) {
	_, p, ag, _ := setup(t, 1, 0, nil)
	ag.failEnsure = status.Error(codes.Unavailable, "connection refused")
	if _, _, err := p.Acquire(context.Background()); !errors.Is(err, ErrAgentUnavailable) {
		t.Errorf("agent down: err = %v, want ErrAgentUnavailable", err)
	}
	ag.failEnsure = status.Error(codes.NotFound, "image esb-x:latest not found")
	_, _, err := p.Acquire(context.Background())
	if !errors.Is(err, ErrStartFailed) {
		t.Errorf("bad image: err = %v, want ErrStartFailed", err)
	}
	ag.failEnsure = nil
	if w, cold, err := p.Acquire(context.Background()); err != nil || !cold || w == nil {
		t.Errorf("agent back: %v %v", cold, err)
	}
}

func TestFailedStartHandsCapacityToWaiter(t *testing.T) {
	_, p, ag, _ := setup(t, 1, 0, nil)
	ag.gate = make(chan struct{})
	ag.failEnsure = status.Error(codes.Internal, "boom")
	first := make(chan error, 1)
	go func() { _, _, err := p.Acquire(context.Background()); first <- err }()
	eventually(t, "starting", func() bool { return p.Stats().Starting == 1 })
	second := make(chan error, 1)
	go func() { _, _, err := p.Acquire(context.Background()); second <- err }()
	eventually(t, "queued", func() bool { return p.Stats().Waiting == 1 })
	ag.gate <- struct{}{} // first start fails
	if err := <-first; !errors.Is(err, ErrStartFailed) {
		t.Fatalf("first: %v", err)
	}
	ag.mu.Lock()
	ag.failEnsure = nil
	ag.mu.Unlock()
	ag.gate <- struct{}{} // the waiter got the capacity and starts its own worker
	if err := <-second; err != nil {
		t.Fatalf("second: %v", err)
	}
}

func TestNeverMoreThanMax(t *testing.T) {
	_, p, ag, _ := setup(t, 2, 0, func(c *Config) { c.Clock = RealClock{}; c.AcquireTimeout = 5 * time.Second })
	var wg sync.WaitGroup
	var busy, maxBusy atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, _, err := p.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			n := busy.Add(1)
			for {
				m := maxBusy.Load()
				if n <= m || maxBusy.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			busy.Add(-1)
			p.Release(w, true)
		}()
	}
	wg.Wait()
	if maxBusy.Load() > 2 || ag.maxLive["fn"] > 2 || ag.ensured > 2 {
		t.Errorf("max busy %d, max live %d, ensured %d; want ≤ 2", maxBusy.Load(), ag.maxLive["fn"], ag.ensured)
	}
}

func TestDisabledFunction(t *testing.T) {
	_, p, _, _ := setup(t, 0, 0, nil)
	if _, _, err := p.Acquire(context.Background()); !errors.Is(err, ErrDisabled) {
		t.Errorf("err = %v", err)
	}
}

func TestJanitorScaleToZeroAndMin(t *testing.T) {
	m, p, ag, clk := setup(t, 3, 1, nil)
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "min capacity started", func() bool { return p.Stats().Idle == 1 })
	// Two more workers in use, then idle.
	w1, _, _ := p.Acquire(ctx)
	w2, _, _ := p.Acquire(ctx)
	w3, _, _ := p.Acquire(ctx)
	for _, w := range []*Worker{w1, w2, w3} {
		p.Release(w, true)
	}
	clk.Advance(299 * time.Second)
	m.Tick(ctx)
	if st := p.Stats(); st.Idle != 3 {
		t.Fatalf("before the idle timeout: %+v", st)
	}
	clk.Advance(time.Second)
	m.Tick(ctx)
	if st := p.Stats(); st.Idle != 1 {
		t.Fatalf("after the idle timeout the pool keeps min_capacity=1: %+v", st)
	}
	eventually(t, "destroyed", func() bool { return ag.liveCount() == 1 })

	// min_capacity 0 → scale to zero.
	m.Sync(map[string]Spec{"fn": {Image: "img", MaxCapacity: 3, MinCapacity: 0, Env: map[string]string{"A": "1"}}})
	clk.Advance(301 * time.Second)
	m.Tick(ctx)
	if st := p.Stats(); st.Idle != 0 {
		t.Fatalf("scale to zero: %+v", st)
	}
	eventually(t, "all destroyed", func() bool { return ag.liveCount() == 0 })
}

func TestReconcileOrphansWithGrace(t *testing.T) {
	m, p, ag, clk := setup(t, 2, 0, nil)
	ctx := context.Background()
	w, _, _ := p.Acquire(ctx)
	p.Release(w, true)
	ag.addForeign("young", "p", clk.Now())
	ag.addForeign("old", "p", clk.Now().Add(-2*time.Minute))
	ag.addForeign("other-project", "q", clk.Now().Add(-time.Hour))
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "old orphan destroyed", func() bool { return !ag.isLive("old") })
	if !ag.isLive("young") || !ag.isLive("other-project") || !ag.isLive(w.ID) {
		t.Errorf("young orphan, other project's container and our worker must stay")
	}
	clk.Advance(61 * time.Second)
	m.Tick(ctx)
	eventually(t, "young orphan destroyed after the grace period", func() bool { return !ag.isLive("young") })

	// A worker whose container vanished is forgotten.
	ag.DestroyContainer(ctx, nil_(w.ID))
	m.Tick(ctx)
	if st := p.Stats(); st.Idle != 0 {
		t.Errorf("vanished worker still idle: %+v", st)
	}
}

func TestCleanupPreviousRun(t *testing.T) {
	clk := newFakeClock()
	ag := newFakeAgent(clk)
	ag.addForeign("left1", "p", clk.Now())
	ag.addForeign("left2", "p", clk.Now())
	ag.addForeign("theirs", "q", clk.Now())
	m := NewManager(Config{Project: "p", Clock: clk}, ag)
	m.Sync(map[string]Spec{"fn": {Image: "img", MaxCapacity: 1}})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ag.isLive("left1") || ag.isLive("left2") || !ag.isLive("theirs") {
		t.Errorf("cleanup: live=%v", ag.live)
	}
	ag.listErr = status.Error(codes.Unavailable, "no agent")
	if err := m.Start(context.Background()); !errors.Is(err, ErrAgentUnavailable) {
		t.Errorf("agent down at start: %v", err)
	}
}

func TestPauseAndResume(t *testing.T) {
	m, p, ag, clk := setup(t, 1, 0, func(c *Config) { c.PauseIdle = 30 * time.Second })
	ctx := context.Background()
	w, _, _ := p.Acquire(ctx)
	p.Release(w, true)
	clk.Advance(31 * time.Second)
	m.Tick(ctx)
	if ag.pauses != 1 || p.Stats().Paused != 1 {
		t.Fatalf("pause: pauses=%d stats=%+v", ag.pauses, p.Stats())
	}
	w2, cold, err := p.Acquire(ctx)
	if err != nil || cold || w2 != w || ag.resumes != 1 {
		t.Fatalf("resume on acquire: cold=%v err=%v resumes=%d", cold, err, ag.resumes)
	}
	p.Release(w2, true)
	m.Tick(ctx) // not idle long enough: no second pause
	if ag.pauses != 1 {
		t.Errorf("paused again too early")
	}
}

func TestSpecChangeReplacesWorkers(t *testing.T) {
	m, p, ag, _ := setup(t, 2, 0, nil)
	ctx := context.Background()
	w, _, _ := p.Acquire(ctx)
	idle, _, _ := p.Acquire(ctx)
	p.Release(idle, true)
	m.Sync(map[string]Spec{"fn": {Image: "img2", MaxCapacity: 2}})
	eventually(t, "stale idle worker destroyed", func() bool { return !ag.isLive(idle.ID) })
	p.Release(w, true) // stale busy worker is destroyed on release
	eventually(t, "stale busy worker destroyed", func() bool { return !ag.isLive(w.ID) })
	w3, cold, _ := p.Acquire(ctx)
	if !cold || w3.ID == w.ID {
		t.Error("new spec needs a new worker")
	}
	// Removing the function closes its pool.
	m.Sync(map[string]Spec{})
	if m.Pool("fn") != nil {
		t.Error("pool of a removed function still there")
	}
	if _, _, err := p.Acquire(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("acquire on a closed pool: %v", err)
	}
	p.Release(w3, true)
	eventually(t, "all destroyed", func() bool { return ag.liveCount() == 0 })
}

func TestShutdown(t *testing.T) {
	m, p, ag, _ := setup(t, 1, 0, nil)
	ctx := context.Background()
	busy, _, _ := p.Acquire(ctx)
	waitErr := make(chan error, 1)
	go func() { _, _, err := p.Acquire(ctx); waitErr <- err }()
	eventually(t, "queued", func() bool { return p.Stats().Waiting == 1 })
	done := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		done <- m.Shutdown(sctx)
	}()
	if err := <-waitErr; !errors.Is(err, ErrClosed) {
		t.Errorf("waiter at shutdown: %v", err)
	}
	select {
	case <-done:
		t.Fatal("shutdown must wait for the busy worker")
	case <-time.After(30 * time.Millisecond):
	}
	p.Release(busy, true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ag.liveCount() != 0 {
		t.Errorf("containers left after shutdown: %d", ag.liveCount())
	}
}

func TestShutdownGraceExpires(t *testing.T) {
	m, p, ag, _ := setup(t, 1, 0, nil)
	p.Acquire(context.Background())
	sctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := m.Shutdown(sctx); err == nil {
		t.Error("shutdown with a busy worker past the grace period must report it")
	}
	eventually(t, "busy worker destroyed anyway", func() bool { return ag.liveCount() == 0 })
}

func TestPauseUnsupportedStopsTrying(t *testing.T) {
	m, p, ag, clk := setup(t, 1, 0, func(c *Config) { c.PauseIdle = 30 * time.Second })
	ag.noPause = true
	ctx := context.Background()
	w, _, _ := p.Acquire(ctx)
	p.Release(w, true)
	for range 3 {
		clk.Advance(31 * time.Second)
		m.Tick(ctx)
	}
	if ag.pauses != 1 {
		t.Errorf("pause tried %d times on a runtime without pause, want 1", ag.pauses)
	}
	if w2, cold, err := p.Acquire(ctx); err != nil || cold || w2 != w {
		t.Errorf("worker unusable after a failed pause: %v %v", cold, err)
	}
}
