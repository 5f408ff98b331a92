// Package gw runs the S3 protocol engine that esb embeds: versitygw with its POSIX
// backend. It is the only package that imports versitygw, so replacing the engine
// touches nothing else.
//
// Beyond what versitygw does itself, the gateway here adds virtual-host-style
// addressing for several domains at once (versitygw supports one), and routes the
// bucket sub-resources versitygw does not implement (lifecycle, notification) to a
// BucketConfigs implementation of esb's own, after versitygw's SigV4 check.
//
// Caveats of the engine, which is why it runs only inside `esb s3`: posix.New
// changes the process's working directory to the data root, versitygw keeps
// package-level state (one gateway per process), and it serves HTTP with
// fasthttp on its own listener.
package gw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/s3api"
	"github.com/versity/versitygw/s3api/middlewares"
)

// HealthPath answers 200 to an unauthenticated GET once the gateway serves.
// A bucket name cannot start with a dot, so no bucket is masked by it.
const HealthPath = "/.esb/healthz"

// Layout of the data directory.
const (
	bucketsDir  = "buckets"  // one directory per bucket, objects as files
	versionsDir = "versions" // noncurrent versions of versioned buckets
	sidecarDir  = "meta"     // object metadata when the filesystem lacks user xattrs
)

// S3 limits the gateway enforces (AWS's own).
const (
	// MaxParts is the largest part count of a multipart upload.
	MaxParts = 10000
	// MaxCopySize is the largest source of CopyObject and UploadPartCopy.
	MaxCopySize = 5 << 30
)

// Config is what the gateway needs; fill it once at start.
type Config struct {
	// Listen is the S3 API address, e.g. ":9000" or "127.0.0.1:9000".
	Listen string
	// DataDir holds buckets/, versions/ and meta/. Made absolute before use.
	DataDir string
	// AccessKey and SecretKey are the root credentials; every request is
	// SigV4-signed with them (headers or presigned query).
	AccessKey string
	SecretKey string
	// Region is the region clients sign for (default us-east-1).
	Region string
	// VirtualHostDomains enable <bucket>.<domain> addressing for each domain,
	// e.g. "s3-storage", "localhost". Path-style always works.
	VirtualHostDomains []string
	// CORSAllowOrigin is the Access-Control-Allow-Origin sent when a bucket has
	// no CORS configuration of its own; empty sends none (as S3).
	CORSAllowOrigin string
	// MaxConnections and MaxRequests bound concurrent connections and in-flight
	// requests (defaults 1024 and 512).
	MaxConnections int
	MaxRequests    int
	// Configs stores the sub-resources versitygw lacks. Nil answers them
	// NotImplemented, as versitygw does.
	Configs BucketConfigs
	// Logger receives the gateway's own lines.
	Logger *slog.Logger
	// OnReady is called once the listener accepts connections.
	OnReady func()
}

// Run serves the S3 API until ctx is cancelled. It changes the process's working
// directory to the data root and may be called only once per process at a time.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return errors.New("start s3 gateway: access key and secret key are required")
	}
	if cfg.Listen == "" {
		return errors.New("start s3 gateway: listen address is empty")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 1024
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = 512
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("start s3 gateway: data directory %q: %w", cfg.DataDir, err)
	}
	root := filepath.Join(dataDir, bucketsDir)
	versions := filepath.Join(dataDir, versionsDir)
	for _, d := range []string{root, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("start s3 gateway: create %s: %w", d, err)
		}
	}

	// One gateway per process, so conditional writes need no lock file
	// shared with other processes (saves an open and a flock per PUT).
	opts := posix.PosixOpts{VersioningDir: versions, CopyObjectThreshold: MaxCopySize, ForceNoObjLockFile: true}
	var store meta.MetadataStorer = meta.XattrMeta{}
	fast := true
	if err := (meta.XattrMeta{}).Test(root); err != nil {
		side := filepath.Join(dataDir, sidecarDir)
		cfg.Logger.Info("s3: filesystem has no user xattrs; keeping object metadata in side files", "dir", side, "reason", err.Error())
		if err := os.MkdirAll(side, 0o755); err != nil {
			return fmt.Errorf("start s3 gateway: create %s: %w", side, err)
		}
		sc, err := meta.NewSideCar(side)
		if err != nil {
			return fmt.Errorf("start s3 gateway: side-file metadata in %s: %w", side, err)
		}
		store, opts.SideCarDir, fast = sc, side, false
	}
	be, err := posix.New(root, store, opts)
	if err != nil {
		return fmt.Errorf("start s3 gateway: open posix backend at %s: %w", root, err)
	}
	defer be.Shutdown()
	st := newStore(be, root, store, fast)

	gcfg := &embedgw.Config{
		RootUserAccess:    cfg.AccessKey,
		RootUserSecret:    cfg.SecretKey,
		Region:            cfg.Region,
		Ports:             []string{cfg.Listen},
		MaxConnections:    cfg.MaxConnections,
		MaxRequests:       cfg.MaxRequests,
		MultipartMaxParts: MaxParts,
		CORSAllowOrigin:   cfg.CORSAllowOrigin,
		Quiet:             true,
		KeepAlive:         true,
		HealthPath:        HealthPath,
	}
	iam, err := newIAM(gcfg)
	if err != nil {
		return fmt.Errorf("start s3 gateway: %w", err)
	}
	gcfg.IAMService = iam
	f := &front{
		domains: cfg.VirtualHostDomains,
		configs: cfg.Configs,
		be:      st,
		presign: middlewares.VerifyPresignedV4Signature(middlewares.RootUserConfig{Access: cfg.AccessKey, Secret: cfg.SecretKey}, iam, cfg.Region, false),
		sigv4:   middlewares.VerifyV4Signature(middlewares.RootUserConfig{Access: cfg.AccessKey, Secret: cfg.SecretKey}, iam, cfg.Region, false, true, false),
		log:     cfg.Logger,
	}
	gcfg.S3Options = []s3api.Option{s3api.WithMiddleware("/", f.handle)}
	if cfg.OnReady != nil {
		gcfg.S3Options = append(gcfg.S3Options, s3api.WithOnListen(cfg.OnReady))
	}
	start := time.Now()
	cfg.Logger.Info("s3: serving", "listen", cfg.Listen, "data", dataDir, "region", cfg.Region, "virtual_host_domains", cfg.VirtualHostDomains)
	if err := embedgw.RunVersityGW(ctx, st, gcfg); err != nil {
		return fmt.Errorf("s3 gateway on %s: %w", cfg.Listen, err)
	}
	cfg.Logger.Info("s3: stopped", "uptime", time.Since(start).Round(time.Millisecond).String())
	return nil
}
