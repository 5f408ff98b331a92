//go:build race

package worker

// raceEnabled tells that the race detector is on. It orders a socket write
// before the peer's read only for write(2), not writev(2); race builds
// therefore send large payloads with plain writes.
const raceEnabled = true
