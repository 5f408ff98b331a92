package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeserverlessbox/esb/internal/logs"
	"github.com/edgeserverlessbox/esb/internal/s3"
)

// Environment variables of `esb s3`, read when the matching flag is not given.
const (
	envS3Listen    = "ESB_S3_LISTEN"
	envS3Console   = "ESB_S3_CONSOLE_LISTEN"
	envS3DataDir   = "ESB_S3_DATA_DIR"
	envS3Region    = "ESB_S3_REGION"
	envS3Domains   = "ESB_S3_VIRTUAL_HOST_DOMAINS"
	envS3CORS      = "ESB_S3_CORS_ALLOW_ORIGIN"
	envS3Interval  = "ESB_S3_LIFECYCLE_INTERVAL"
	envS3AccessKey = "ESB_S3_ACCESS_KEY"
	envS3SecretKey = "ESB_S3_SECRET_KEY"
	// The names of the original product description.
	envRustFSAccessKey = "RUSTFS_ACCESS_KEY"
	envRustFSSecretKey = "RUSTFS_SECRET_KEY"
)

func newS3Command(g *Globals) *cobra.Command {
	var (
		cfg      s3.Config
		domains  string
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "s3",
		Short: "Run the S3-compatible object storage",
		Long: `Run the S3-compatible object storage: the S3 API (default :9000) and the web
console (default :9001), storing buckets and objects under --data-dir.

Credentials come from the environment only: ESB_S3_ACCESS_KEY / ESB_S3_SECRET_KEY,
or RUSTFS_ACCESS_KEY / RUSTFS_SECRET_KEY. Every flag has an environment variable,
used when the flag is not given:

  --listen               ESB_S3_LISTEN
  --console-listen       ESB_S3_CONSOLE_LISTEN   ("off" disables the console)
  --data-dir             ESB_S3_DATA_DIR
  --region               ESB_S3_REGION, then AWS_REGION
  --virtual-host-domains ESB_S3_VIRTUAL_HOST_DOMAINS
  --cors-allow-origin    ESB_S3_CORS_ALLOW_ORIGIN
  --lifecycle-interval   ESB_S3_LIFECYCLE_INTERVAL`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			fromEnv := func(flag, env string, dst *string) {
				if !flags.Changed(flag) {
					if v, ok := os.LookupEnv(env); ok {
						*dst = v
					}
				}
			}
			fromEnv("listen", envS3Listen, &cfg.Listen)
			fromEnv("console-listen", envS3Console, &cfg.ConsoleListen)
			fromEnv("data-dir", envS3DataDir, &cfg.DataDir)
			fromEnv("region", envS3Region, &cfg.Region)
			if cfg.Region == "" {
				cfg.Region = os.Getenv("AWS_REGION")
			}
			fromEnv("virtual-host-domains", envS3Domains, &domains)
			fromEnv("cors-allow-origin", envS3CORS, &cfg.CORSAllowOrigin)
			if !flags.Changed("lifecycle-interval") {
				if v, ok := os.LookupEnv(envS3Interval); ok {
					d, err := time.ParseDuration(v)
					if err != nil {
						return fmt.Errorf("%s=%q: %v (use a Go duration such as 1h or 10m)", envS3Interval, v, err)
					}
					interval = d
				}
			}
			cfg.LifecycleInterval = interval
			if interval == 0 {
				cfg.LifecycleInterval = -1
			}
			if strings.EqualFold(cfg.ConsoleListen, "off") {
				cfg.ConsoleListen = ""
			}
			cfg.VirtualHostDomains = []string{}
			for _, d := range strings.Split(domains, ",") {
				if d = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d), ".")); d != "" {
					cfg.VirtualHostDomains = append(cfg.VirtualHostDomains, strings.ToLower(d))
				}
			}
			cfg.AccessKey = firstEnv(envS3AccessKey, envRustFSAccessKey)
			cfg.SecretKey = firstEnv(envS3SecretKey, envRustFSSecretKey)

			level := slog.LevelInfo
			if g.Verbose {
				level = slog.LevelDebug
			}
			var h slog.Handler = slog.NewTextHandler(g.Stderr, &slog.HandlerOptions{Level: level})
			if os.Getenv("ESB_LOG_FORMAT") == "json" {
				h = slog.NewJSONHandler(g.Stderr, &slog.HandlerOptions{Level: level})
			}
			logger, logp, err := logs.Setup(logs.FromEnv("s3"), h)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			defer logp.Close()
			cfg.Logger = logger
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.OnReady = func() { releaseStartupPages(ctx, cfg.Logger) }
			if err := s3.Run(ctx, cfg); err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", s3.DefaultListen, "S3 API address")
	f.StringVar(&cfg.ConsoleListen, "console-listen", s3.DefaultConsoleListen, `web console address ("off" disables it)`)
	f.StringVar(&cfg.DataDir, "data-dir", "data/s3", "directory of buckets, objects and bucket configurations")
	f.StringVar(&cfg.Region, "region", "", "region clients sign requests for (default us-east-1)")
	f.StringVar(&domains, "virtual-host-domains", strings.Join(s3.DefaultVirtualHostDomains(), ","), "comma-separated domains D for <bucket>.D virtual-host-style addressing")
	f.StringVar(&cfg.CORSAllowOrigin, "cors-allow-origin", "", "Access-Control-Allow-Origin for buckets without a CORS configuration (default none, as S3)")
	f.DurationVar(&interval, "lifecycle-interval", s3.DefaultLifecycleInterval, "how often lifecycle rules are applied (0 disables the expirer)")
	return cmd
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
