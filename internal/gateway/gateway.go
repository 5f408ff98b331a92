// Package gateway is esb's API Gateway–compatible front: HTTPS and HTTP
// listeners, routing from routing.yml, client authentication, REST and HTTP
// API proxy events, the Lambda Invoke API, and the worker pools behind them.
//
// New builds a gateway from a Config and an agent client; Start binds the
// listeners; Shutdown stops accepting, lets in-flight requests finish and
// destroys every worker.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/gateway/auth"
	"github.com/edgeserverlessbox/esb/internal/gateway/certs"
	"github.com/edgeserverlessbox/esb/internal/gateway/invokeapi"
	"github.com/edgeserverlessbox/esb/internal/gateway/worker"
	"github.com/edgeserverlessbox/esb/internal/h1"
	"github.com/edgeserverlessbox/esb/internal/pool"
)

// Agent is the part of the agent's gRPC client the gateway uses;
// agentv1.AgentServiceClient satisfies it.
type Agent interface {
	pool.Agent
	Health(ctx context.Context, in *agentv1.HealthRequest, opts ...grpc.CallOption) (*agentv1.HealthResponse, error)
	GetContainerMetrics(ctx context.Context, in *agentv1.GetContainerMetricsRequest, opts ...grpc.CallOption) (*agentv1.GetContainerMetricsResponse, error)
}

// server is an HTTP server of a listener: net/http's, or h1.Server on the
// plain HTTP port.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Gateway is a running (or ready to run) gateway.
type Gateway struct {
	cfg            Config
	agent          Agent
	log            *slog.Logger
	pools          *pool.Manager
	workers        *worker.Client
	auth           *auth.Authenticator
	sig            *invokeapi.Verifier
	queue          *invokeapi.Queue
	schedules      *schedules
	metrics        *metrics
	metricsHandler http.Handler
	ids            *idSource
	access         *accessLog

	state    atomic.Pointer[state]
	reloadMu sync.Mutex

	servers   []server
	listeners []net.Listener
	addrs     map[string]net.Addr

	bg       sync.WaitGroup
	bgCancel context.CancelFunc
	shutOnce sync.Once
	shutErr  error
	serveErr chan error
}

// New checks cfg, loads functions.yml and routing.yml and builds the gateway.
// agent is the agent's gRPC client (or a fake in tests).
func New(cfg Config, agent Agent) (*Gateway, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, agent: agent, log: cfg.Logger.With("component", "gateway"), workers: worker.NewClient(), ids: newIDSource(), addrs: map[string]net.Addr{}}
	if cfg.AccessLog {
		g.access = newAccessLog(cfg.AccessLogWriter, cfg.AccessLogFlush)
	}
	if !cfg.AuthDisabled {
		users := map[string]string{}
		if cfg.UsersFile != "" {
			u, err := auth.LoadUsersFile(cfg.UsersFile)
			if err != nil {
				return nil, fmt.Errorf("gateway: AUTH_USERS_FILE: %w", err)
			}
			users = u
		}
		if cfg.AuthUser != "" {
			users[cfg.AuthUser] = "plain:" + cfg.AuthPass
		}
		a, err := auth.New(auth.Config{APIKey: cfg.APIKey, Secret: cfg.JWTSecret, TokenTTL: cfg.JWTTTL, Users: users})
		if err != nil {
			return nil, fmt.Errorf("gateway: %w (or set AUTH_DISABLED=true to make every route public)", err)
		}
		g.auth = a
	}
	if cfg.VerifySigV4 {
		g.sig = &invokeapi.Verifier{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}
	}
	st, err := loadState(&g.cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.state.Store(st)
	g.pools = pool.NewManager(pool.Config{
		Project: cfg.Project, AcquireTimeout: cfg.AcquireTimeout, IdleTimeout: cfg.IdleTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval, OrphanGrace: cfg.OrphanGrace,
		PauseIdle: pauseIdle(cfg), StartTimeout: cfg.StartTimeout,
		BreakerThreshold: cfg.BreakerThreshold, BreakerRecovery: cfg.BreakerRecovery,
		Clock: cfg.Clock, Logger: cfg.Logger.With("component", "pool"),
	}, agent)
	g.pools.Sync(st.specs)
	q, err := invokeapi.NewQueue(invokeapi.QueueConfig{
		Capacity: cfg.AsyncQueueSize, Workers: cfg.AsyncWorkers, SpoolDir: cfg.AsyncSpoolDir,
		RetryDelays: cfg.AsyncRetryDelays, Logger: cfg.Logger.With("component", "async"),
	}, g.runEvent)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.queue = q
	g.metrics = newMetrics(g.pools.Stats, q.Len, cfg.MetricsCollectors...)
	g.newSchedules()
	g.metricsHandler = promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{})
	return g, nil
}

func pauseIdle(cfg Config) time.Duration {
	if !cfg.PauseEnabled {
		return 0
	}
	return cfg.PauseIdle
}

// Start binds the listeners, cleans up containers left from a previous run,
// starts the kept-warm workers, the janitor, the async queue, the schedules
// and the file watcher, and serves in the background. It returns once the listeners are
// bound; an agent that is down is logged, not fatal (requests get 503 until
// it is back).
func (g *Gateway) Start(ctx context.Context) error {
	var tlsCfg *tls.Config
	if g.cfg.HTTPSAddr != "" {
		certFile, keyFile := g.cfg.TLSCertFile, g.cfg.TLSKeyFile
		if certFile == "" {
			var err error
			certFile, keyFile, err = certs.Ensure(g.cfg.CertDir, g.cfg.TLSHosts, time.Now())
			if err != nil {
				return fmt.Errorf("gateway: TLS certificate: %w", err)
			}
		}
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("gateway: load TLS certificate %s: %w", certFile, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
	}
	type bind struct {
		name, addr string
		tls        *tls.Config
	}
	var binds []bind
	if g.cfg.HTTPSAddr != "" {
		binds = append(binds, bind{"https", g.cfg.HTTPSAddr, tlsCfg})
	}
	if g.cfg.HTTPAddr != "" {
		binds = append(binds, bind{"http", g.cfg.HTTPAddr, nil})
	}
	for _, b := range binds {
		ln, err := net.Listen("tcp", b.addr)
		if err != nil {
			g.closeListeners()
			return listenError(b.name, b.addr, err)
		}
		g.addrs[b.name] = ln.Addr()
		if b.tls == nil && !g.cfg.StdHTTPServer {
			g.listeners = append(g.listeners, ln)
			g.servers = append(g.servers, &h1.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second,
				IdleTimeout: 120 * time.Second, MaxHeaderBytes: 1 << 20, Logger: g.log})
			continue
		}
		srv := &http.Server{
			Handler:           g,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    1 << 20,
			ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		}
		if b.tls != nil {
			srv.TLSConfig = b.tls
			ln = tls.NewListener(ln, b.tls)
		}
		g.listeners = append(g.listeners, ln)
		g.servers = append(g.servers, srv)
	}

	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.bgCancel = cancel
	cctx, ccancel := context.WithTimeout(ctx, g.cfg.StartTimeout)
	if err := g.pools.Start(cctx); err != nil {
		g.log.Warn("cannot clean up the previous run's containers; the janitor will retry", "err", err)
	}
	ccancel()
	g.background(func() { g.pools.RunJanitor(bgCtx) })
	g.background(func() { g.queue.Run(bgCtx) })
	g.runSchedules(bgCtx, g.state.Load())
	if g.cfg.WatchInterval > 0 {
		g.background(func() { g.watch(bgCtx) })
	}
	g.serveErr = make(chan error, len(g.servers))
	for i, srv := range g.servers {
		ln := g.listeners[i]
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.serveErr <- err
			}
		}()
	}
	for name, a := range g.addrs {
		g.log.Info("gateway listening", "scheme", name, "addr", a.String())
	}
	return nil
}

func (g *Gateway) background(f func()) {
	g.bg.Add(1)
	go func() { defer g.bg.Done(); f() }()
}

func (g *Gateway) closeListeners() {
	for _, ln := range g.listeners {
		ln.Close()
	}
}

func listenError(name, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("gateway: %s port %s is already in use: stop the other program or choose another port (GATEWAY_PORT / GATEWAY_HTTP_PORT)", name, addr)
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		return fmt.Errorf("gateway: %s port %s needs privileges: run as root, grant CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep esb), or choose a port ≥ 1024", name, addr)
	}
	return fmt.Errorf("gateway: listen on %s (%s): %w", addr, name, err)
}

// Addr returns the bound address of "https" or "http" (nil when disabled).
func (g *Gateway) Addr(scheme string) net.Addr { return g.addrs[scheme] }

// Errors returns a channel that receives a listener's fatal error.
func (g *Gateway) Errors() <-chan error { return g.serveErr }

// Shutdown stops accepting connections, waits up to the grace period (or ctx)
// for in-flight requests, stops the janitor, queue, schedules and watcher, and destroys
// every worker. It is safe to call more than once.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.shutOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, g.cfg.ShutdownGrace)
		defer cancel()
		var errs []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, srv := range g.servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := srv.Shutdown(ctx); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("stop HTTP server: %w", err))
					mu.Unlock()
					srv.Close()
				}
			}()
		}
		wg.Wait()
		if g.bgCancel != nil {
			g.bgCancel()
		}
		g.bg.Wait()
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.StartTimeout)
		defer dcancel()
		if err := g.pools.Shutdown(dctx); err != nil {
			errs = append(errs, err)
		}
		g.workers.CloseIdle()
		if g.access != nil {
			g.access.close()
		}
		g.shutErr = errors.Join(errs...)
		g.log.Info("gateway stopped")
	})
	return g.shutErr
}

// Reload re-reads functions.yml and routing.yml. On an error the running
// configuration stays. In-flight requests finish with the generation they
// started with.
func (g *Gateway) Reload() error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	st, err := loadState(&g.cfg)
	if err != nil {
		g.log.Error("reload failed; keeping the running configuration", "err", err)
		return fmt.Errorf("reload: %w", err)
	}
	g.state.Store(st)
	g.pools.Sync(st.specs)
	g.syncSchedules(st)
	g.log.Info("configuration reloaded", "functions", len(st.functions), "routes", st.routes.Len())
	return nil
}

// watch reloads when either file changes (size or modification time).
func (g *Gateway) watch(ctx context.Context) {
	t := time.NewTicker(g.cfg.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := g.state.Load().stamp
		if now := stampOf(g.cfg.FunctionsFile, g.cfg.RoutingFile); now != cur {
			if err := g.Reload(); err != nil {
				// Remember the broken stamp so the error is logged once per change.
				g.reloadMu.Lock()
				old := g.state.Load()
				cp := *old
				cp.stamp = now
				g.state.Store(&cp)
				g.reloadMu.Unlock()
			}
		}
	}
}

// Handler returns the gateway's HTTP handler (the gateway itself).
func (g *Gateway) Handler() http.Handler { return g }
