//go:build unix && !linux

package rie

// readablePipes reports every pipe as readable: each is read without
// waiting (see the Linux version, which asks the kernel first).
func readablePipes([]*pipeReader) uint64 { return ^uint64(0) }
