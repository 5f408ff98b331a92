//go:build !race

package worker

// raceEnabled tells that the race detector is on (see race_on.go).
const raceEnabled = false
