// Package rie is esb-rie: the Lambda Runtime API emulator that is the
// entrypoint of every function container. It serves the invoke endpoint
// (docs/contracts.md, "Invoking a worker"), serves the Runtime API to the
// runtime on a private loopback port, starts and supervises the runtime
// (a custom bootstrap or the embedded Python / Node.js client) through an
// explicit state machine, and prints AWS's START/END/REPORT lines.
package rie

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// runtimeStopGrace is how long the runtime gets between SIGTERM and
// SIGKILL when esb-rie shuts down (AWS gives a runtime 300 ms or more).
const runtimeStopGrace = 500 * time.Millisecond

// Run serves the invoke endpoint and the Runtime API and supervises the
// runtime until ctx ends (SIGTERM), then lets the invoke in flight finish
// within cfg.ShutdownGrace, stops the runtime and returns. Output lines go
// to stdout, esb-rie's own diagnostics to stderr.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	sink := NewLogSink(stdout, cfg.LogFormat, cfg.FunctionName)
	var log *slog.Logger
	if cfg.LogFormat == LogJSON {
		log = slog.New(&sinkHandler{sink: sink, level: cfg.LogLevel})
	} else {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}

	invokeLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen for invokes on %s: %w", cfg.Listen, err)
	}
	defer invokeLn.Close()
	apiLn, err := net.Listen("tcp", cfg.RuntimeAPIAddr)
	if err != nil {
		return fmt.Errorf("listen for the Runtime API on %s: %w", cfg.RuntimeAPIAddr, err)
	}
	defer apiLn.Close()

	runtimeDir := cfg.RuntimeDir
	if cfg.Runtime != "" && runtimeDir == "" {
		runtimeDir, err = os.MkdirTemp("", "esb-runtime-")
		if err != nil {
			return fmt.Errorf("create a directory for the %s runtime client: %w (set --runtime-dir to a writable directory)", cfg.Runtime, err)
		}
		defer os.RemoveAll(runtimeDir)
	}
	spec, err := newLaunchSpec(&cfg, apiLn.Addr().String(), runtimeDir, time.Now())
	if err != nil {
		return err
	}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var rp *reaper
	if cfg.Reap {
		rp, err = newReaper(os.Getpid() != 1)
		if err != nil {
			return err
		}
		go rp.run(bg)
	}
	mem := newMemoryMeter("/", os.Getpid() == 1)
	defer mem.close()
	log.Debug("esb-rie starting", "listen", invokeLn.Addr().String(), "runtime_api", apiLn.Addr().String(),
		"runtime", spec.runtimeID, "memory", mem.source(), "reap", cfg.Reap)

	sb := newSandbox(&cfg, sink, log, &execSpawner{spec: spec, sink: sink, reaper: rp}, mem, spec.runtimeID)
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	apiSrv := &http.Server{Handler: &runtimeAPI{s: sb}, ErrorLog: errLog}
	invokeSrv := &http.Server{
		Handler:           newInvokeAPI(sb, &cfg),
		ErrorLog:          errLog,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       15 * time.Minute,
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- apiSrv.Serve(apiLn) }()
	go func() { serveErr <- invokeSrv.Serve(invokeLn) }()

	// Start the first init now: by the time the first invoke arrives the
	// runtime is (nearly) ready.
	sb.start()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
		sink.platform(typeError, "error", "esb-rie: "+runErr.Error())
	}

	graceCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	sb.drain(graceCtx)
	cancel()
	sb.stop(runtimeStopGrace)

	shutCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := invokeSrv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Debug("shut down invoke server", "err", err)
	}
	_ = apiSrv.Close()
	return runErr
}
