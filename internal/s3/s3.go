// Package s3 wires the embedded S3 server that `esb s3` runs: the S3 API engine
// (package gw), the durable bucket configurations esb adds (package bucketconf),
// the lifecycle expirer (package lifecycle) and the web console (package console).
package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/edgeserverlessbox/esb/internal/s3/bucketconf"
	"github.com/edgeserverlessbox/esb/internal/s3/console"
	"github.com/edgeserverlessbox/esb/internal/s3/gw"
	"github.com/edgeserverlessbox/esb/internal/s3/lifecycle"
	"github.com/edgeserverlessbox/esb/internal/s3/s3client"
)

// Defaults of Config.
const (
	DefaultListen            = ":9000"
	DefaultConsoleListen     = ":9001"
	DefaultRegion            = "us-east-1"
	DefaultLifecycleInterval = time.Hour
)

// DefaultVirtualHostDomains returns the domains under which <bucket>.<domain>
// addresses a bucket: the name functions use and the host's loopback name.
func DefaultVirtualHostDomains() []string { return []string{"s3-storage", "localhost"} }

// configDir is where bucketconf keeps its documents, beside the engine's data.
const configDir = "esb"

// Config is the configuration of `esb s3`.
type Config struct {
	// Listen is the S3 API address (default ":9000").
	Listen string
	// ConsoleListen is the web console address (default ":9001"); empty
	// disables the console.
	ConsoleListen string
	// DataDir holds every bucket, object and configuration.
	DataDir string
	// AccessKey and SecretKey are the credentials every request is signed with.
	AccessKey string
	SecretKey string
	// Region is the region clients sign for (default us-east-1).
	Region string
	// VirtualHostDomains enable <bucket>.<domain> addressing.
	VirtualHostDomains []string
	// CORSAllowOrigin is the default Access-Control-Allow-Origin for buckets
	// without a CORS configuration; empty sends none, as S3.
	CORSAllowOrigin string
	// LifecycleInterval is how often the expirer applies lifecycle rules; a
	// negative value disables it.
	LifecycleInterval time.Duration
	// Logger receives every line.
	Logger *slog.Logger
	// OnReady is called once the S3 API (and the console) accept connections.
	OnReady func()
}

// withDefaults fills empty fields.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.VirtualHostDomains == nil {
		c.VirtualHostDomains = DefaultVirtualHostDomains()
	}
	if c.LifecycleInterval == 0 {
		c.LifecycleInterval = DefaultLifecycleInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first configuration mistake, naming the setting.
func (c Config) Validate() error {
	if c.AccessKey == "" || c.SecretKey == "" {
		return errors.New("s3: no credentials: set RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY (or ESB_S3_ACCESS_KEY and ESB_S3_SECRET_KEY)")
	}
	if len(c.AccessKey) < 3 {
		return errors.New("s3: access key must be at least 3 characters")
	}
	if len(c.SecretKey) < 8 {
		return errors.New("s3: secret key must be at least 8 characters")
	}
	if c.DataDir == "" {
		return errors.New("s3: data directory is empty: pass --data-dir or set ESB_S3_DATA_DIR")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("s3: listen address %q: %v (use host:port or :port)", c.Listen, err)
	}
	if c.ConsoleListen != "" {
		if _, _, err := net.SplitHostPort(c.ConsoleListen); err != nil {
			return fmt.Errorf("s3: console address %q: %v (use host:port or :port)", c.ConsoleListen, err)
		}
	}
	return nil
}

// LoopbackURL turns a listen address into a URL reachable from this machine.
func LoopbackURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Run serves until ctx is cancelled. It runs the engine, which changes the
// working directory and may run once per process.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("s3: data directory %q: %w", cfg.DataDir, err)
	}
	configs, err := bucketconf.Open(filepath.Join(dataDir, configDir))
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ready := make(chan struct{})
	gwDone := make(chan error, 1)
	go func() {
		gwDone <- gw.Run(ctx, gw.Config{
			Listen:             cfg.Listen,
			DataDir:            dataDir,
			AccessKey:          cfg.AccessKey,
			SecretKey:          cfg.SecretKey,
			Region:             cfg.Region,
			VirtualHostDomains: cfg.VirtualHostDomains,
			CORSAllowOrigin:    cfg.CORSAllowOrigin,
			Configs:            configs,
			Logger:             cfg.Logger,
			OnReady:            func() { close(ready) },
		})
	}()
	select {
	case err := <-gwDone:
		if err == nil {
			err = errors.New("s3: gateway stopped before it was ready")
		}
		return err
	case <-ready:
	case <-ctx.Done():
		return <-gwDone
	}

	endpoint := LoopbackURL(cfg.Listen)
	client := s3client.New(s3client.Config{Endpoint: endpoint, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Region: cfg.Region})
	if cfg.LifecycleInterval > 0 {
		exp := &lifecycle.Expirer{Store: lifecycle.S3Store{Client: client}, Clock: lifecycle.SystemClock{}, Log: cfg.Logger}
		go exp.Run(ctx, cfg.LifecycleInterval)
	}

	consoleDone := make(chan error, 1)
	if cfg.ConsoleListen != "" {
		srv, err := console.New(console.Config{
			Listen:    cfg.ConsoleListen,
			Client:    client,
			S3Port:    portOf(cfg.Listen),
			AccessKey: cfg.AccessKey,
			SecretKey: cfg.SecretKey,
			Logger:    cfg.Logger,
		})
		if err != nil {
			cancel()
			<-gwDone
			return fmt.Errorf("s3: %w", err)
		}
		go func() { consoleDone <- srv.Serve(ctx) }()
	}
	cfg.Logger.Info("s3: ready", "endpoint", endpoint, "console", cfg.ConsoleListen)
	if cfg.OnReady != nil {
		cfg.OnReady()
	}

	select {
	case err := <-gwDone:
		cancel()
		return err
	case err := <-consoleDone:
		cancel()
		<-gwDone
		return err
	case <-ctx.Done():
		return <-gwDone
	}
}

func portOf(listen string) string {
	_, port, _ := net.SplitHostPort(listen)
	return port
}
