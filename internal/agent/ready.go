package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// errExited reports that the worker's main process ended before it was ready.
type errExited struct{ exit Exit }

func (e errExited) Error() string {
	if e.exit.Err != nil {
		return fmt.Sprintf("exit code %d (%v)", e.exit.Code, e.exit.Err)
	}
	return fmt.Sprintf("exit code %d", e.exit.Code)
}

var healthzRequest = []byte("GET /healthz HTTP/1.1\r\nHost: worker\r\nUser-Agent: esb-agent\r\nConnection: close\r\n\r\n")

// waitReady returns once addr accepts connections and answers GET /healthz
// with anything but a 5xx (a server without /healthz answers 404, which
// counts as ready). It fails when exited delivers or ctx ends.
func waitReady(ctx context.Context, addr string, exited <-chan Exit) error {
	var d net.Dialer
	start := time.Now()
	backoff := time.Millisecond
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	var lastErr error
	for {
		select {
		case e := <-exited:
			return errExited{e}
		default:
		}
		ok, err := probe(ctx, &d, addr)
		if ok {
			return nil
		}
		if lastErr == nil || !ended(ctx) {
			lastErr = err // an attempt cut short by the deadline says nothing new
		}
		timer.Reset(backoff)
		select {
		case e := <-exited:
			return errExited{e}
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), lastErr)
			}
			return ctx.Err()
		case <-timer.C:
		}
		// A worker usually listens within tens of milliseconds: poll every
		// millisecond (a refused connect costs microseconds), then back off.
		if time.Since(start) > 100*time.Millisecond && backoff < 10*time.Millisecond {
			backoff *= 2
		}
	}
}

// ended reports whether ctx is done or its deadline has passed (a socket
// deadline may fire a moment before the context notices).
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// probe makes one attempt: connect, ask /healthz, read the status line.
func probe(ctx context.Context, d *net.Dialer, addr string) (bool, error) {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.DialContext(pctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	deadline, _ := pctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write(healthzRequest); err != nil {
		return false, err
	}
	var buf [12]byte // "HTTP/1.1 200"
	n := 0
	for n < len(buf) {
		m, err := conn.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	if n < len(buf) || !bytes.HasPrefix(buf[:], []byte("HTTP/1.")) {
		return false, errors.New("no HTTP answer to GET /healthz yet")
	}
	if buf[9] == '5' {
		return false, fmt.Errorf("GET /healthz answered %s", buf[9:12])
	}
	return true, nil
}
