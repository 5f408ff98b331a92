//go:build !linux

package worker

import "net"

// peeker is a no-op where the socket cannot be peeked at cheaply: an idle
// connection the worker closed fails the next invoke instead.
type peeker struct{}

func (p *peeker) init(net.Conn) {}

func (p *peeker) quiet() bool { return true }
