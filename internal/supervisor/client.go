package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// Client talks to a running supervisor over its control socket.
type Client struct {
	layout Layout
	hc     *http.Client
}

// NewClient returns a client for the supervisor of the layout's project.
func NewClient(l Layout) *Client {
	sock := l.Socket()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		Proxy: nil,
	}
	return &Client{layout: l, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// ErrNotRunning is returned when no supervisor runs for the project.
var ErrNotRunning = errors.New("esb is not running for this project")

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://supervisor"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) {
			return ErrNotRunning
		}
		return fmt.Errorf("talk to the supervisor at %s: %w", c.layout.Socket(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("supervisor: %s %s: %s", method, path, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("supervisor: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Status asks the supervisor for its report.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", &st)
	return st, err
}

// Reload makes the services re-read their configuration (the gateway:
// functions.yml and routing.yml).
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reload", nil)
}

// Restart restarts one service.
func (c *Client) Restart(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/restart/"+name, nil)
}

// Stop asks the supervisor to stop every service and exit, and waits until it
// has (its lock is free), up to timeout.
func (c *Client) Stop(ctx context.Context, timeout time.Duration) error {
	if err := c.do(ctx, http.MethodPost, "/v1/stop", nil); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		if held, _ := Held(c.layout.SupervisorLock()); !held {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the supervisor did not stop within %s; see %s", timeout, c.layout.OutputFile("supervisor"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
