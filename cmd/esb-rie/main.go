// Command esb-rie is the Lambda Runtime API emulator that runs as the
// entrypoint of every function container. Usage is compatible with AWS's
// emulator: esb-rie [flags] <bootstrap> [args...] runs a custom runtime,
// esb-rie --runtime python3.12 app.handler runs the built-in client.
// See docs/esb-rie.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/edgeserverlessbox/esb/internal/rie"
)

func main() {
	// esb-rie serves one invoke at a time: a single P avoids waking a second
	// OS thread for every hand-over between the invoke, the Runtime API and
	// the log reader (measured: about 30% less CPU per invoke). GOMAXPROCS
	// in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	cfg, err := rie.ParseConfig(os.Args[1:], os.Environ(), os.Getpid(), os.Stderr)
	if errors.Is(err, rie.ErrHelp) {
		os.Exit(0)
	}
	if errors.Is(err, rie.ErrUsage) {
		os.Exit(2) // the flag package has printed the error and the usage
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "esb-rie:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := rie.Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "esb-rie:", err)
		os.Exit(1)
	}
}
