//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// epollConn is one client connection of the event loop.
type epollConn struct {
	fd   int
	rnd  *rand.Rand
	out  []byte // request bytes not yet written
	wbuf []byte // the request being sent (reused)
	in   []byte // response bytes read so far (reused)
	t0   time.Time
	req  request
}

// runEpoll drives clients connections to addr from one OS thread with epoll,
// each with one request in flight, until d has passed, then lets the requests
// in flight finish. It is the load generator of -client epoll: one thread and
// no scheduler hand-offs, so the client's CPU per request is a fraction of a
// goroutine per connection's and the servers get the rest of the machine.
// Latencies are appended to lat, one per answered request.
func runEpoll(addr string, clients int, d time.Duration, next func(*rand.Rand) request) (lat []time.Duration, errs int64, elapsed time.Duration, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, 0, 0, err
	}
	var sa syscall.SockaddrInet4
	copy(sa.Addr[:], ta.IP.To4())
	sa.Port = ta.Port

	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("epoll_create: %w", err)
	}
	defer syscall.Close(ep)
	conns := make([]*epollConn, clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				syscall.Close(c.fd)
			}
		}
	}()
	for i := range conns {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("socket: %w", err)
		}
		conns[i] = &epollConn{fd: fd, rnd: rand.New(rand.NewPCG(uint64(i), 42)), in: make([]byte, 0, 64<<10)}
		if err := syscall.Connect(fd, &sa); err != nil {
			return nil, 0, 0, fmt.Errorf("connect %s: %w", addr, err)
		}
		// As Go's net package does for every TCP connection.
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
			return nil, 0, 0, err
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, 0, 0, err
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, 0, 0, fmt.Errorf("epoll_ctl: %w", err)
		}
	}

	var firstErr error
	fail := func(e error) {
		errs++
		if firstErr == nil {
			firstErr = e
		}
	}
	start := time.Now()
	deadline := start.Add(d)
	inflight := 0
	send := func(i int, c *epollConn) error {
		c.req = next(c.rnd)
		c.wbuf = appendRequest(c.wbuf[:0], addr, c.req)
		c.out = c.wbuf
		c.in = c.in[:0]
		c.t0 = time.Now()
		inflight++
		return flush(ep, i, c)
	}
	for i, c := range conns {
		if err := send(i, c); err != nil {
			return nil, 0, 0, err
		}
	}
	events := make([]syscall.EpollEvent, clients)
	buf := make([]byte, 64<<10)
	var last time.Time
	for inflight > 0 {
		if time.Since(deadline) > 10*time.Second {
			return lat, errs, time.Since(start), fmt.Errorf("%d requests still unanswered 10 s after the run", inflight)
		}
		n, err := syscall.EpollWait(ep, events, 1000)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return nil, 0, 0, fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			i := int(ev.Fd)
			c := conns[i]
			if ev.Events&syscall.EPOLLOUT != 0 && len(c.out) > 0 {
				if err := flush(ep, i, c); err != nil {
					return nil, 0, 0, err
				}
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) == 0 {
				continue
			}
			m, err := syscall.Read(c.fd, buf)
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if err != nil || m == 0 {
				return nil, 0, 0, fmt.Errorf("connection %d closed by the server (%v)", i, err)
			}
			c.in = append(c.in, buf[:m]...)
			status, body, done, perr := parseResponse(c.in)
			if perr != nil {
				return nil, 0, 0, fmt.Errorf("connection %d: %w", i, perr)
			}
			if !done {
				continue
			}
			now := time.Now()
			inflight--
			switch {
			case status != 200:
				fail(fmt.Errorf("%s: status %d: %s", c.req.target, status, body))
			case c.req.check != "" && !bytes.Contains(body, []byte(c.req.check)):
				fail(fmt.Errorf("%s: response lacks %s", c.req.target, c.req.check))
			default:
				lat = append(lat, now.Sub(c.t0))
				last = now
			}
			if now.Before(deadline) {
				if err := send(i, c); err != nil {
					return nil, 0, 0, err
				}
			}
		}
	}
	if firstErr != nil {
		fmt.Printf("  first error: %v\n", firstErr)
	}
	if last.IsZero() {
		last = time.Now()
	}
	return lat, errs, last.Sub(start), nil
}

// flush writes what is left of c's request; a full socket buffer waits for
// EPOLLOUT.
func flush(ep, i int, c *epollConn) error {
	for len(c.out) > 0 {
		n, err := syscall.Write(c.fd, c.out)
		if errors.Is(err, syscall.EAGAIN) {
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(i)}
			return syscall.EpollCtl(ep, syscall.EPOLL_CTL_MOD, c.fd, &ev)
		}
		if err != nil {
			return fmt.Errorf("write request: %w", err)
		}
		c.out = c.out[n:]
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
	return syscall.EpollCtl(ep, syscall.EPOLL_CTL_MOD, c.fd, &ev)
}

// parseResponse reads an HTTP/1.1 response framed by Content-Length (both
// servers send one); done is false while bytes are missing.
func parseResponse(b []byte) (status int, body []byte, done bool, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, nil, false, nil
	}
	head := b[:end]
	if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) {
		return 0, nil, false, fmt.Errorf("malformed status line %q", head[:min(len(head), 40)])
	}
	status, err = strconv.Atoi(string(head[9:12]))
	if err != nil {
		return 0, nil, false, fmt.Errorf("malformed status line %q", head[:min(len(head), 40)])
	}
	n := -1
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		if len(line) > 15 && bytes.EqualFold(line[:15], []byte("content-length:")) {
			n, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return 0, nil, false, fmt.Errorf("malformed Content-Length %q", line)
			}
		}
	}
	if n < 0 {
		return 0, nil, false, errors.New("response without Content-Length")
	}
	if len(b) < end+4+n {
		return 0, nil, false, nil
	}
	return status, b[end+4 : end+4+n], true, nil
}
