package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// envPprofAddr enables a daemon's profiling endpoint: set it to a loopback
// address (127.0.0.1:6060) to serve net/http/pprof there. Off by default.
const envPprofAddr = "ESB_PPROF_ADDR"

// startPprof serves the Go profiler on $ESB_PPROF_ADDR when it is set. Only
// loopback addresses are accepted: profiles reveal memory contents.
func startPprof(ctx context.Context, logger *slog.Logger) error {
	addr := os.Getenv(envPprofAddr)
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q: want host:port, e.g. 127.0.0.1:6060", envPprofAddr, addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s=%q: the profiler only listens on loopback (127.0.0.1 or ::1)", envPprofAddr, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", envPprofAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go srv.Serve(ln)
	logger.Info("profiler listening", "addr", ln.Addr().String())
	return nil
}
