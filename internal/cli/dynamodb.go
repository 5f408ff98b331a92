package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgeserverlessbox/esb/internal/dynamo"
	"github.com/edgeserverlessbox/esb/internal/logs"
	"github.com/spf13/cobra"
)

func newDynamoDBCommand(g *Globals) *cobra.Command {
	var (
		listen, dataDir, region, creds, accessKey, secretKey, sync string
		ttlInterval                                                time.Duration
	)
	cmd := &cobra.Command{
		Use:   "dynamodb",
		Short: "Run the DynamoDB-compatible database",
		Long: `Run esb's DynamoDB-compatible database: the DynamoDB JSON API (as used by the AWS
SDKs and the AWS CLI) on an embedded, durable engine. Every flag has an environment
variable; flags win. With credentials configured, requests must be SigV4-signed with
one of them; without, any signature (or none) is accepted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := dynamo.ConfigFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("listen") {
				cfg.Addr = listen
			}
			if f.Changed("data-dir") {
				cfg.DataDir = dataDir
			}
			if f.Changed("region") {
				cfg.Region = region
			}
			if f.Changed("ttl-interval") {
				if ttlInterval <= 0 {
					return fmt.Errorf("--ttl-interval %s: must be positive", ttlInterval)
				}
				cfg.TTLInterval = ttlInterval
			}
			if f.Changed("sync") {
				if cfg.NoSync, err = dynamo.ParseSync(sync); err != nil {
					return fmt.Errorf("--sync: %w", err)
				}
			}
			if f.Changed("credentials") {
				if cfg.Credentials, err = dynamo.ParseCredentials(creds); err != nil {
					return fmt.Errorf("--credentials: %w", err)
				}
			}
			if f.Changed("access-key-id") != f.Changed("secret-access-key") {
				return fmt.Errorf("--access-key-id and --secret-access-key must be given together")
			}
			if accessKey != "" {
				if cfg.Credentials == nil {
					cfg.Credentials = map[string]string{}
				}
				cfg.Credentials[accessKey] = secretKey
			}
			level := slog.LevelInfo
			if g.Verbose {
				level = slog.LevelDebug
			}
			logger, logp, err := logs.Setup(logs.FromEnv("dynamodb"), slog.NewTextHandler(g.Stderr, &slog.HandlerOptions{Level: level}))
			if err != nil {
				return err
			}
			defer logp.Close()
			cfg.Logger = logger
			return runDynamoDB(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":8001", "listen address ($"+dynamo.EnvListen+")")
	f.StringVar(&dataDir, "data-dir", dynamo.DefaultDataDir, "data directory ($"+dynamo.EnvDataDir+")")
	f.StringVar(&region, "region", "us-east-1", "region reported in ARNs and expected in signatures ($AWS_REGION)")
	f.StringVar(&creds, "credentials", "", "accepted credentials, ACCESS_KEY_ID:SECRET[,...]; enables SigV4 verification ($"+dynamo.EnvCredentials+")")
	f.StringVar(&accessKey, "access-key-id", "", "one accepted access key id ($"+dynamo.EnvAccessKey+")")
	f.StringVar(&secretKey, "secret-access-key", "", "its secret access key ($"+dynamo.EnvSecretKey+")")
	f.DurationVar(&ttlInterval, "ttl-interval", 5*time.Second, "how often expired items are deleted ($"+dynamo.EnvTTLInterval+")")
	f.StringVar(&sync, "sync", "always", "always: answer a write once it is on disk; off: answer once the engine has it, the disk follows within milliseconds, as dynalite and LevelDB do ($"+dynamo.EnvSync+")")
	return cmd
}

func runDynamoDB(ctx context.Context, cfg dynamo.Config) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := dynamo.NewServer(cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Close(context.Background())
		return err
	}
	releaseStartupPages(ctx, cfg.Logger)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Close(shutdown); err != nil {
		return fmt.Errorf("stop dynamodb: %w", err)
	}
	return nil
}
