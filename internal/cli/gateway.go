package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	agentv1 "github.com/edgeserverlessbox/esb/api/agent/v1"
	"github.com/edgeserverlessbox/esb/internal/gateway"
	"github.com/edgeserverlessbox/esb/internal/gateway/auth"
	"github.com/edgeserverlessbox/esb/internal/gateway/certs"
	"github.com/edgeserverlessbox/esb/internal/logs"
)

func newGatewayCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the gateway daemon (API Gateway-compatible front)",
		Long: `Run the gateway: HTTPS (and plain HTTP) front with API Gateway routing, auth,
REST/HTTP API events, the Lambda Invoke API, and the function worker pools.

Every setting comes from an environment variable (see docs/gateway.md).
SIGHUP reloads functions.yml and routing.yml; SIGTERM/SIGINT stop gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGateway(cmd.Context(), g, os.LookupEnv)
		},
	}
	certsCmd := &cobra.Command{
		Use:   "certs",
		Short: "Create the local CA and the gateway certificate (ESB_CERT_DIR); --install trusts the CA system-wide",
		Args:  cobra.NoArgs,
	}
	install := certsCmd.Flags().Bool("install", false, "install the CA into the system trust store (needs root)")
	certsCmd.RunE = func(cmd *cobra.Command, args []string) error {
		env := envReader{os.LookupEnv}
		dir := env.str("ESB_CERT_DIR", defaultCertDir())
		certPath, _, err := certs.Ensure(dir, env.list("GATEWAY_TLS_HOSTS"), time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(g.Stdout, "CA:          %s\ncertificate: %s\n", filepath.Join(dir, certs.CAFile), certPath)
		if *install {
			dst, err := certs.InstallCA(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "installed:   %s\n", dst)
		}
		return nil
	}
	hashCmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password on stdin and print a line for AUTH_USERS_FILE (name:hash)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pw string
			if _, err := fmt.Fscanln(g.Stdin, &pw); err != nil || pw == "" {
				return fmt.Errorf("read password from stdin: give it on one line")
			}
			h, err := auth.HashPassword(pw)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "%s:%s\n", args[0], h)
			return nil
		},
	}
	cmd.AddCommand(certsCmd, hashCmd)
	return cmd
}

func defaultCertDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".esb", "certs")
	}
	return ".esb/certs"
}

// gatewaySettings is the result of reading the environment.
type gatewaySettings struct {
	cfg       gateway.Config
	agentAddr string
	agentTLS  [3]string // cert, key, ca
	logLevel  slog.Level
}

// envReader reads typed settings from the environment and remembers the
// first bad value.
type envReader struct {
	lookup func(string) (string, bool)
}

type envError struct{ name, value, want string }

func (e *envError) Error() string {
	return fmt.Sprintf("environment variable %s=%q: %s", e.name, e.value, e.want)
}

func (r envReader) str(name, def string) string {
	if v, ok := r.lookup(name); ok && v != "" {
		return v
	}
	return def
}

func (r envReader) list(name string) []string {
	v := r.str(name, "")
	if v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (r envReader) int(name string, def int, errs *[]error) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		*errs = append(*errs, &envError{name, v, "want a whole number ≥ 0"})
		return def
	}
	return n
}

func (r envReader) seconds(name string, def time.Duration, errs *[]error) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		*errs = append(*errs, &envError{name, v, "want seconds, e.g. 30 or 0.5"})
		return def
	}
	return time.Duration(f * float64(time.Second))
}

func (r envReader) bool(name string, def bool, errs *[]error) bool {
	v := strings.ToLower(r.str(name, ""))
	switch v {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	*errs = append(*errs, &envError{name, v, "want true or false"})
	return def
}

// readGatewaySettings builds the gateway's configuration from the environment.
func readGatewaySettings(lookup func(string) (string, bool)) (gatewaySettings, error) {
	env := envReader{lookup}
	var errs []error
	d := gateway.Defaults()
	c := d
	c.FunctionsFile = env.str("FUNCTIONS_CONFIG_PATH", filepath.Join(".esb", "config", "functions.yml"))
	c.RoutingFile = env.str("ROUTING_CONFIG_PATH", filepath.Join(".esb", "config", "routing.yml"))

	bind := env.str("GATEWAY_BIND_ADDR", "")
	httpsPort := env.int("GATEWAY_PORT", 443, &errs)
	c.HTTPSAddr = net.JoinHostPort(bind, strconv.Itoa(httpsPort))
	if !env.bool("ENABLE_SSL", true, &errs) {
		c.HTTPSAddr = ""
	}
	switch hp := strings.ToLower(env.str("GATEWAY_HTTP_PORT", "8080")); hp {
	case "off", "false", "none", "-1":
		c.HTTPAddr = ""
	default:
		n, err := strconv.Atoi(hp)
		if err != nil || n < 0 || n > 65535 {
			errs = append(errs, &envError{"GATEWAY_HTTP_PORT", hp, "want a port number or off"})
		}
		c.HTTPAddr = net.JoinHostPort(bind, hp)
	}
	c.TLSCertFile = env.str("SSL_CERT_PATH", "")
	c.TLSKeyFile = env.str("SSL_KEY_PATH", "")
	c.CertDir = env.str("ESB_CERT_DIR", defaultCertDir())
	c.TLSHosts = env.list("GATEWAY_TLS_HOSTS")

	c.Project = env.str("ESB_PROJECT", d.Project)
	c.Region = env.str("AWS_REGION", d.Region)
	c.AccountID = env.str("AWS_ACCOUNT_ID", d.AccountID)

	c.AuthDisabled = env.bool("AUTH_DISABLED", false, &errs)
	c.APIKey = env.str("X_API_KEY", "")
	c.JWTSecret = env.str("JWT_SECRET_KEY", "")
	c.JWTTTL = env.seconds("JWT_EXPIRES_DELTA", d.JWTTTL, &errs)
	c.AuthPath = env.str("AUTH_ENDPOINT_PATH", d.AuthPath)
	c.AuthUser = env.str("AUTH_USER", "")
	c.AuthPass = env.str("AUTH_PASS", "")
	c.UsersFile = env.str("AUTH_USERS_FILE", "")

	c.NoRouteStatus = env.int("GATEWAY_NO_ROUTE_STATUS", d.NoRouteStatus, &errs)
	c.BinaryMediaTypes = env.list("BINARY_MEDIA_TYPES")
	c.IntegrationTimeout = env.seconds("LAMBDA_INVOKE_TIMEOUT", d.IntegrationTimeout, &errs)

	c.AcquireTimeout = env.seconds("POOL_ACQUIRE_TIMEOUT", d.AcquireTimeout, &errs)
	c.IdleTimeout = env.seconds("GATEWAY_IDLE_TIMEOUT_SECONDS", d.IdleTimeout, &errs)
	c.HeartbeatInterval = env.seconds("HEARTBEAT_INTERVAL", d.HeartbeatInterval, &errs)
	c.OrphanGrace = env.seconds("ORPHAN_GRACE_PERIOD_SECONDS", d.OrphanGrace, &errs)
	c.PauseEnabled = env.bool("ENABLE_CONTAINER_PAUSE", false, &errs)
	c.PauseIdle = env.seconds("PAUSE_IDLE_SECONDS", d.PauseIdle, &errs)
	c.StartTimeout = env.seconds("READINESS_TIMEOUT", d.StartTimeout, &errs)
	c.BreakerThreshold = env.int("CIRCUIT_BREAKER_THRESHOLD", d.BreakerThreshold, &errs)
	c.BreakerRecovery = env.seconds("CIRCUIT_BREAKER_RECOVERY_TIMEOUT", d.BreakerRecovery, &errs)

	akid, akSet := lookup("AWS_ACCESS_KEY_ID")
	c.AccessKeyID = env.str("AWS_ACCESS_KEY_ID", d.AccessKeyID)
	c.SecretAccessKey = env.str("AWS_SECRET_ACCESS_KEY", d.SecretAccessKey)
	c.VerifySigV4 = env.bool("INVOKE_VERIFY_SIGV4", akSet && akid != "", &errs)
	c.S3Endpoint = env.str("AWS_ENDPOINT_URL_S3", d.S3Endpoint)
	c.DynamoDBEndpoint = env.str("AWS_ENDPOINT_URL_DYNAMODB", d.DynamoDBEndpoint)
	c.LambdaEndpoint = env.str("GATEWAY_INTERNAL_URL", d.LambdaEndpoint)
	c.WorkerEnv = map[string]string{}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"} {
		if v, ok := lookup(k); ok && v != "" {
			c.WorkerEnv[k] = v
		}
	}

	c.AsyncQueueSize = env.int("ASYNC_QUEUE_SIZE", d.AsyncQueueSize, &errs)
	c.AsyncWorkers = env.int("ASYNC_WORKERS", d.AsyncWorkers, &errs)
	c.AsyncSpoolDir = env.str("ASYNC_SPOOL_DIR", filepath.Join(".esb", "run", "gateway-async"))
	if strings.EqualFold(c.AsyncSpoolDir, "off") {
		c.AsyncSpoolDir = ""
	}
	c.AsyncMaxPayload = env.int("ASYNC_MAX_PAYLOAD", d.AsyncMaxPayload, &errs)
	c.SchedulesDisabled = !env.bool("SCHEDULES_ENABLED", true, &errs)
	c.ShutdownGrace = env.seconds("SHUTDOWN_GRACE_SECONDS", d.ShutdownGrace, &errs)
	c.WatchInterval = env.seconds("CONFIG_WATCH_INTERVAL", d.WatchInterval, &errs)
	if v, _ := lookup("CONFIG_WATCH_INTERVAL"); v == "0" {
		c.WatchInterval = -1
	}
	c.AccessLog = env.bool("ACCESS_LOG", true, &errs)

	s := gatewaySettings{cfg: c}
	s.agentAddr = env.str("AGENT_GRPC_ADDRESS", "unix:///run/esb/agent.sock")
	s.agentTLS = [3]string{env.str("AGENT_TLS_CERT", ""), env.str("AGENT_TLS_KEY", ""), env.str("AGENT_TLS_CA", "")}
	switch lv := strings.ToUpper(env.str("LOG_LEVEL", "INFO")); lv {
	case "DEBUG":
		s.logLevel = slog.LevelDebug
	case "INFO":
		s.logLevel = slog.LevelInfo
	case "WARNING", "WARN":
		s.logLevel = slog.LevelWarn
	case "ERROR":
		s.logLevel = slog.LevelError
	default:
		errs = append(errs, &envError{"LOG_LEVEL", lv, "want DEBUG, INFO, WARNING or ERROR"})
	}
	return s, errors.Join(errs...)
}

// dialAgent connects to the agent: a unix socket ("unix:///path"), or TCP
// with mutual TLS when AGENT_TLS_* are set.
func dialAgent(s gatewaySettings) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if !strings.HasPrefix(s.agentAddr, "unix:") {
		cert, key, ca := s.agentTLS[0], s.agentTLS[1], s.agentTLS[2]
		if cert == "" || key == "" || ca == "" {
			return nil, fmt.Errorf("AGENT_GRPC_ADDRESS=%s is TCP: set AGENT_TLS_CERT, AGENT_TLS_KEY and AGENT_TLS_CA for mutual TLS (or use unix:///path/agent.sock)", s.agentAddr)
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("agent client certificate: %w", err)
		}
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("agent CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("agent CA %s: no certificate", ca)
		}
		creds = credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(s.agentAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("agent address %s: %w", s.agentAddr, err)
	}
	return conn, nil
}

func runGateway(ctx context.Context, g *Globals, lookup func(string) (string, bool)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	s, err := readGatewaySettings(lookup)
	if err != nil {
		return err
	}
	level := s.logLevel
	if g.Verbose {
		level = slog.LevelDebug
	}
	logger, logp, err := logs.Setup(logs.FromEnv("gateway"), slog.NewJSONHandler(g.Stderr, &slog.HandlerOptions{Level: level}))
	if err != nil {
		return err
	}
	defer logp.Close()
	s.cfg.Logger = logger
	s.cfg.AccessLogWriter = logp.Writer(g.Stderr)
	s.cfg.MetricsCollectors = append(s.cfg.MetricsCollectors, logp.Collector())
	if err := startPprof(ctx, logger); err != nil {
		return err
	}
	conn, err := dialAgent(s)
	if err != nil {
		return err
	}
	defer conn.Close()
	gw, err := gateway.New(s.cfg, agentv1.NewAgentServiceClient(conn))
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if err := gw.Start(ctx); err != nil {
		return err
	}
	releaseStartupPages(ctx, logger)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				gw.Reload()
				continue
			}
			logger.Info("stopping", "component", "gateway", "signal", sig.String())
			return gw.Shutdown(context.Background())
		case err := <-gw.Errors():
			gw.Shutdown(context.Background())
			return fmt.Errorf("gateway: %w", err)
		case <-ctx.Done():
			return gw.Shutdown(context.Background())
		}
	}
}
