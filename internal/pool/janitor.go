package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
)

// Start prepares the pools after a (re)start: it destroys every container of
// this project left from a previous run, then starts the MinCapacity workers.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.CleanupPrevious(ctx); err != nil {
		return err
	}
	m.ensureMin()
	return nil
}

// CleanupPrevious destroys every container of this project that the agent
// reports. Run it before any pool has workers.
func (m *Manager) CleanupPrevious(ctx context.Context) error {
	resp, err := m.agent.ListContainers(ctx, &agentv1.ListContainersRequest{Project: m.cfg.Project})
	if err != nil {
		return classify(err, "list containers left from a previous run")
	}
	known := m.known()
	for _, c := range resp.GetContainers() {
		if _, ok := known[c.GetId()]; ok {
			continue
		}
		m.log.Info("removing container left from a previous run", "container", c.GetId(), "function", c.GetFunction())
		m.destroy(c.GetId(), "left from a previous run")
	}
	select {
	case <-m.destroying.wait():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remove containers left from a previous run: %w", ctx.Err())
	}
}

func (m *Manager) known() map[string]*Pool {
	ids := map[string]*Pool{}
	for _, p := range m.Pools() {
		p.workerIDs(ids)
	}
	return ids
}

// RunJanitor runs Tick every HeartbeatInterval until ctx is done.
func (m *Manager) RunJanitor(ctx context.Context) {
	for {
		t := m.cfg.Clock.NewTimer(m.cfg.HeartbeatInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("janitor", "err", err)
		}
	}
}

// Tick is one janitor pass: scale idle workers down to MinCapacity, pause
// workers idle for PauseIdle, start workers up to MinCapacity, and reconcile
// with the agent (destroy orphans older than OrphanGrace, forget workers whose
// container is gone).
func (m *Manager) Tick(ctx context.Context) error {
	for _, p := range m.Pools() {
		p.scaleDown()
		p.pauseIdle(ctx)
	}
	m.ensureMin()
	return m.reconcile(ctx)
}

// scaleDown removes workers idle longer than IdleTimeout while the pool has
// more than MinCapacity workers, least recently used first.
func (p *Pool) scaleDown() {
	now := p.m.cfg.Clock.Now()
	p.mu.Lock()
	var victims []*Worker
	total := len(p.workers) + p.starting
	keep := p.idle[:0]
	for _, w := range p.idle {
		if total > p.spec.MinCapacity && now.Sub(w.lastUsed) >= p.m.cfg.IdleTimeout {
			victims = append(victims, w)
			delete(p.workers, w.ID)
			total--
			continue
		}
		keep = append(keep, w)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	if len(victims) > 0 {
		p.grantCapacityLocked()
	}
	p.mu.Unlock()
	for _, w := range victims {
		p.m.log.Info("scaling down idle worker", "function", w.Function, "container", w.ID)
		p.m.destroy(w.ID, "idle timeout")
	}
}

// pauseIdle freezes workers idle for PauseIdle. A worker being paused is out
// of the idle list, so nobody invokes it mid-pause; a later Acquire resumes it.
func (p *Pool) pauseIdle(ctx context.Context) {
	if p.m.cfg.PauseIdle <= 0 || p.m.pauseUnsupported.Load() {
		return
	}
	now := p.m.cfg.Clock.Now()
	p.mu.Lock()
	var targets []*Worker
	keep := p.idle[:0]
	for _, w := range p.idle {
		if !w.paused && now.Sub(w.lastUsed) >= p.m.cfg.PauseIdle {
			targets = append(targets, w)
			continue
		}
		keep = append(keep, w)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.pausing += len(targets)
	p.mu.Unlock()
	for _, w := range targets {
		cctx, cancel := context.WithTimeout(ctx, p.m.cfg.StartTimeout)
		_, err := p.m.agent.PauseContainer(cctx, &agentv1.PauseContainerRequest{Id: w.ID})
		cancel()
		p.mu.Lock()
		p.pausing--
		if err != nil {
			if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented {
				if !p.m.pauseUnsupported.Swap(true) {
					p.m.log.Warn("the agent's container runtime cannot pause workers; ENABLE_CONTAINER_PAUSE has no effect", "err", st.Message())
				}
			} else {
				p.m.log.Warn("pause worker", "function", w.Function, "container", w.ID, "err", err)
			}
		} else {
			w.paused = true
		}
		if p.closed {
			delete(p.workers, w.ID)
			p.m.destroying.Add(1)
			p.mu.Unlock()
			p.m.destroyCounted(w.ID, "pool closed")
			continue
		}
		p.putBackLocked(w)
		p.mu.Unlock()
	}
}

// ensureMin starts workers in the background until every pool has MinCapacity.
func (m *Manager) ensureMin() {
	for _, p := range m.Pools() {
		p.mu.Lock()
		need := 0
		if !p.closed {
			need = p.spec.MinCapacity - len(p.workers) - p.starting
			if mx := p.spec.MaxCapacity - len(p.workers) - p.starting; need > mx {
				need = mx
			}
		}
		if need > 0 {
			p.starting += need
		}
		p.mu.Unlock()
		for range need {
			go func() {
				w, err := p.ensure()
				if err != nil {
					return
				}
				p.Release(w, true)
			}()
		}
	}
}

// reconcile compares the agent's containers of this project with the pools.
func (m *Manager) reconcile(ctx context.Context) error {
	listedAt := m.cfg.Clock.Now()
	resp, err := m.agent.ListContainers(ctx, &agentv1.ListContainersRequest{Project: m.cfg.Project})
	if err != nil {
		return classify(err, "list containers")
	}
	known := m.known()
	present := make(map[string]bool, len(resp.GetContainers()))
	for _, c := range resp.GetContainers() {
		id := c.GetId()
		present[id] = true
		p, ok := known[id]
		if !ok {
			created := time.UnixMilli(c.GetCreatedAtMs())
			if c.GetCreatedAtMs() == 0 || listedAt.Sub(created) >= m.cfg.OrphanGrace {
				m.log.Info("removing orphan container", "container", id, "function", c.GetFunction())
				m.destroy(id, "orphan")
			}
			continue
		}
		if st := c.GetStatus(); st == "exited" || st == "dead" {
			p.forget(id, "container "+st)
		}
	}
	// Workers the agent no longer knows (container removed behind our back).
	for id, p := range known {
		if !present[id] {
			p.forgetIfIdleSince(id, listedAt)
		}
	}
	return nil
}

// forget drops an idle worker whose container is gone or dead.
func (p *Pool) forget(id, why string) {
	p.mu.Lock()
	for i, w := range p.idle {
		if w.ID == id {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			delete(p.workers, id)
			p.grantCapacityLocked()
			p.mu.Unlock()
			p.evictions.Add(1)
			p.m.log.Warn("evicting worker", "function", w.Function, "container", id, "reason", why)
			p.m.destroy(id, why)
			return
		}
	}
	// Busy: mark it so that Release evicts it.
	if w, ok := p.workers[id]; ok {
		w.stale = true
	}
	p.mu.Unlock()
}

func (p *Pool) forgetIfIdleSince(id string, listedAt time.Time) {
	p.mu.Lock()
	w, ok := p.workers[id]
	young := ok && !w.created.Before(listedAt)
	p.mu.Unlock()
	if ok && !young {
		p.forget(id, "container no longer exists")
	}
}

// Shutdown closes every pool, waits until busy workers are released (or ctx
// ends), and destroys all workers.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	pools := make([]*Pool, 0, len(m.pools))
	for _, p := range m.pools {
		pools = append(pools, p)
	}
	m.mu.Unlock()
	for _, p := range pools {
		p.close()
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		busy := 0
		for _, p := range pools {
			busy += p.busyCount()
		}
		if busy == 0 {
			break
		}
		select {
		case <-ctx.Done():
			err = fmt.Errorf("shutdown: %d workers still busy: %w", busy, ctx.Err())
			break wait
		case <-tick.C:
		}
	}
	// Destroy whatever is left (busy workers when the grace period ran out).
	for _, p := range pools {
		p.mu.Lock()
		var ids []string
		for id := range p.workers {
			ids = append(ids, id)
		}
		clear(p.workers)
		p.mu.Unlock()
		for _, id := range ids {
			m.destroy(id, "shutdown")
		}
	}
	select {
	case <-m.destroying.wait():
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("shutdown: destroying workers: %w", ctx.Err()))
	}
	return err
}
