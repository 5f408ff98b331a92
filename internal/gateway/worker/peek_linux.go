package worker

import (
	"net"
	"syscall"
	"unsafe"
)

// peeker tells whether an idle connection is still open and quiet, with one
// non-blocking recv(MSG_PEEK) on its socket.
type peeker struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool
	buf [1]byte
	ok  bool
}

func (p *peeker) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw = raw
	p.fn = p.check
}

// check runs on the socket: EAGAIN means open with nothing to read; 0 bytes
// is the worker's FIN, data is an answer nobody asked for, any other error a
// broken connection.
func (p *peeker) check(fd uintptr) bool {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	p.ok = errno == syscall.EAGAIN
	return true
}

func (p *peeker) quiet() bool {
	if p.raw == nil {
		return true
	}
	p.ok = false
	if err := p.raw.Read(p.fn); err != nil {
		return false
	}
	return p.ok
}
