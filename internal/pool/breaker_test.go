package pool

import (
	"testing"
	"time"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
)

func nil_(id string) *agentv1.DestroyContainerRequest {
	return &agentv1.DestroyContainerRequest{Id: id}
}

func TestBreakerTransitions(t *testing.T) {
	clk := newFakeClock()
	b := NewBreaker(3, 30*time.Second, clk)
	for i := range 2 {
		if !b.Allow() {
			t.Fatalf("closed breaker refused request %d", i)
		}
		b.Failure()
	}
	b.Allow()
	b.Success() // a success resets the count of consecutive failures
	for range 2 {
		b.Allow()
		b.Failure()
	}
	if b.State() != BreakerClosed {
		t.Fatalf("2 consecutive failures must not open: %v", b.State())
	}
	b.Allow()
	b.Failure()
	if b.State() != BreakerOpen || b.Allow() {
		t.Fatalf("3 consecutive failures must open: %v", b.State())
	}
	clk.Advance(29 * time.Second)
	if b.Allow() {
		t.Fatal("open before the recovery timeout must refuse")
	}
	clk.Advance(time.Second)
	if b.State() != BreakerHalfOpen {
		t.Fatalf("after recovery: %v", b.State())
	}
	if !b.Allow() {
		t.Fatal("half-open must let one trial through")
	}
	if b.Allow() {
		t.Fatal("half-open must let only one trial through")
	}
	b.Failure()
	if b.State() != BreakerOpen {
		t.Fatalf("failed trial must reopen: %v", b.State())
	}
	clk.Advance(30 * time.Second)
	if !b.Allow() {
		t.Fatal("second trial")
	}
	b.Skip() // throttled trial: counts neither way, another may try
	if !b.Allow() {
		t.Fatal("after a skipped trial another trial may pass")
	}
	b.Success()
	if b.State() != BreakerClosed || !b.Allow() || !b.Allow() {
		t.Fatalf("successful trial must close: %v", b.State())
	}
}

func TestBreakerDisabled(t *testing.T) {
	b := NewBreaker(0, time.Second, nil)
	for range 10 {
		b.Failure()
	}
	if !b.Allow() || b.State() != BreakerClosed {
		t.Error("threshold 0 disables the breaker")
	}
	var nilB *Breaker
	if !nilB.Allow() {
		t.Error("nil breaker allows")
	}
}
