package gateway

import (
	"context"
	"testing"
	"time"
)

type ctxKey struct{}

func TestInvokeCtxDeadline(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	c := newInvokeCtx(context.WithoutCancel(parent), time.Now().Add(30*time.Millisecond))
	cancel() // the caller going away does not end it
	if c.Err() != nil || c.Value(ctxKey{}) != "v" {
		t.Fatalf("err %v, value %v", c.Err(), c.Value(ctxKey{}))
	}
	ran := make(chan struct{})
	stop := context.AfterFunc(c, func() { close(ran) })
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("deadline did not end the context")
	}
	if c.Err() != context.DeadlineExceeded {
		t.Errorf("Err = %v", c.Err())
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc did not run")
	}
	if stop() {
		t.Error("stop after the func ran returned true")
	}
	c.release()

	// Reused (the pool may hand back the same one): fresh, and a stopped
	// AfterFunc never runs.
	c = newInvokeCtx(context.Background(), time.Now().Add(20*time.Millisecond))
	if c.Err() != nil {
		t.Fatalf("reused context starts ended: %v", c.Err())
	}
	select {
	case <-c.Done():
		t.Fatal("reused context's Done is closed")
	default:
	}
	called := make(chan struct{}, 1)
	stop = context.AfterFunc(c, func() { called <- struct{}{} })
	if !stop() {
		t.Error("stop before the deadline returned false")
	}
	<-c.Done()
	select {
	case <-called:
		t.Error("stopped AfterFunc ran")
	case <-time.After(30 * time.Millisecond):
	}
	c.release()
}

func TestInvokeCtxReleasedBeforeDeadline(t *testing.T) {
	for range 50 {
		c := newInvokeCtx(context.Background(), time.Now().Add(time.Millisecond))
		c.release()
		c = newInvokeCtx(context.Background(), time.Now().Add(time.Hour))
		time.Sleep(2 * time.Millisecond) // a stale timer of the first use must not end it
		if c.Err() != nil {
			t.Fatalf("a late timer ended a later use: %v", c.Err())
		}
		c.release()
	}
}

func TestInvokeCtxTwoAfterFuncs(t *testing.T) {
	c := newInvokeCtx(context.Background(), time.Now().Add(20*time.Millisecond))
	defer c.release()
	a, b := make(chan struct{}), make(chan struct{})
	context.AfterFunc(c, func() { close(a) })
	context.AfterFunc(c, func() { close(b) })
	for _, ch := range []chan struct{}{a, b} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("an AfterFunc did not run")
		}
	}
}
