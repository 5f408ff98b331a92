package supervisor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthClient is shared by the HTTP checks: loopback only, never a proxy,
// connections kept alive between checks.
var healthTransport = &http.Transport{
	Proxy:               nil,
	MaxIdleConnsPerHost: 1,
	IdleConnTimeout:     30 * time.Second,
	DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
}

// HTTPCheck returns a check that GETs url and wants status 200.
func HTTPCheck(url string) func(ctx context.Context) error {
	hc := &http.Client{Transport: healthTransport, Timeout: 2 * time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, unwrapURL(err))
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return nil
	}
}

// unwrapURL drops net/url's "Get "…": " prefix, which repeats the URL.
func unwrapURL(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}

// LocalURL turns a listen address (":8001", "0.0.0.0:9000", "127.0.0.1:9428")
// into an http URL on loopback.
func LocalURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// TCPCheck returns a check that connects to addr and hangs up: for services
// whose HTTP health endpoint would write an access-log line per check.
func TCPCheck(addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connect %s: %w", addr, err)
		}
		return c.Close()
	}
}
