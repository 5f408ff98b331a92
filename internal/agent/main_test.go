package agent_test

import (
	"os"
	"testing"

	"github.com/sasha-s/go-deadlock"
)

func TestMain(m *testing.M) {
	// go-cni swaps its mutexes for go-deadlock's under -race; that package's
	// goroutine ids read as 0 on this Go version, so every nested RLock looks
	// recursive and it exits the process. Plain builds use sync.RWMutex.
	deadlock.Opts.Disable = true
	os.Exit(m.Run())
}
