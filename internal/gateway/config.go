package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeserverlessbox/esb/internal/pool"
	"github.com/edgeserverlessbox/esb/internal/schedule"
)

// Config is everything the gateway needs, read once at start (the CLI fills
// it from environment variables; tests build it directly). Zero values take
// the defaults of Defaults.
type Config struct {
	// FunctionsFile and RoutingFile are functions.yml and routing.yml.
	FunctionsFile, RoutingFile string

	// HTTPSAddr is the HTTPS listen address (":443"); empty disables HTTPS.
	HTTPSAddr string
	// HTTPAddr is the plain HTTP listen address (":8080", used by function
	// containers for the Invoke API); empty disables it.
	HTTPAddr string
	// TLSCertFile/TLSKeyFile, when set, are used as they are; otherwise a
	// certificate from the local CA in CertDir is made for TLSHosts.
	TLSCertFile, TLSKeyFile string
	CertDir                 string
	TLSHosts                []string

	// Project is the esb.project label of this gateway's containers.
	Project string
	// Region and AccountID appear in ARNs, events and the workers' environment.
	Region, AccountID string

	// Auth. AuthDisabled makes every route public (the login endpoint is off).
	AuthDisabled bool
	APIKey       string
	JWTSecret    string
	JWTTTL       time.Duration
	AuthPath     string
	AuthUser     string
	AuthPass     string
	UsersFile    string

	// NoRouteStatus is 404 (default, {"message":"Not Found"}) or 403 (REST's
	// {"message":"Missing Authentication Token"}).
	NoRouteStatus int
	// BinaryMediaTypes is the REST APIs' binaryMediaTypes.
	BinaryMediaTypes []string
	// IntegrationTimeout bounds an API route's invoke (route timeout_ms wins).
	IntegrationTimeout time.Duration

	// Pools.
	AcquireTimeout    time.Duration
	IdleTimeout       time.Duration
	HeartbeatInterval time.Duration
	OrphanGrace       time.Duration
	PauseEnabled      bool
	PauseIdle         time.Duration
	StartTimeout      time.Duration
	BreakerThreshold  int
	BreakerRecovery   time.Duration

	// Worker environment.
	AccessKeyID, SecretAccessKey string
	// VerifySigV4 makes the Invoke API require a SigV4 signature made with
	// AccessKeyID/SecretAccessKey.
	VerifySigV4      bool
	S3Endpoint       string
	DynamoDBEndpoint string
	LambdaEndpoint   string
	// WorkerEnv is added to every worker's environment (proxy variables…).
	WorkerEnv map[string]string

	// Asynchronous invocations.
	AsyncQueueSize   int
	AsyncWorkers     int
	AsyncSpoolDir    string
	AsyncMaxPayload  int
	AsyncRetryDelays []time.Duration

	// SchedulesDisabled turns off the functions' Schedule and ScheduleV2
	// events (SCHEDULES_ENABLED=false).
	SchedulesDisabled bool
	// ScheduleClock drives the schedules (tests); nil = wall clock.
	ScheduleClock schedule.Clock

	// ShutdownGrace is how long in-flight requests may finish on SIGTERM.
	ShutdownGrace time.Duration
	// WatchInterval is how often functions.yml/routing.yml are checked for
	// changes (0 = default, negative = never).
	WatchInterval time.Duration
	// AccessLog writes one JSON line per request to AccessLogWriter (default
	// os.Stderr).
	AccessLog       bool
	AccessLogWriter io.Writer
	// AccessLogFlush is how long access log lines may wait to be written
	// together (one write per batch instead of one per request); default
	// 100ms, negative writes every line at once.
	AccessLogFlush time.Duration
	// StdHTTPServer serves the plain HTTP port with net/http's server instead
	// of the gateway's own HTTP/1.1 server (which starts no goroutine per
	// request and answers with one write). HTTPS always uses net/http.
	StdHTTPServer bool
	Logger        *slog.Logger
	// MetricsCollectors are served on /metrics next to the gateway's own
	// (the log pipeline's counters).
	MetricsCollectors []prometheus.Collector
	// Clock drives pools and breakers (tests); nil = wall clock.
	Clock pool.Clock
}

// Defaults returns the configuration with every default filled in.
func Defaults() Config {
	return Config{
		HTTPSAddr:          ":443",
		HTTPAddr:           ":8080",
		Project:            "esb",
		Region:             "us-east-1",
		AccountID:          "123456789012",
		JWTTTL:             3000 * time.Second,
		AuthPath:           "/user/auth/ver1.0",
		NoRouteStatus:      404,
		IntegrationTimeout: 30 * time.Second,
		AcquireTimeout:     30 * time.Second,
		IdleTimeout:        300 * time.Second,
		HeartbeatInterval:  30 * time.Second,
		OrphanGrace:        60 * time.Second,
		PauseIdle:          30 * time.Second,
		StartTimeout:       60 * time.Second,
		BreakerThreshold:   5,
		BreakerRecovery:    30 * time.Second,
		AccessKeyID:        "esb",
		SecretAccessKey:    "esb-local-secret",
		S3Endpoint:         "http://s3-storage:9000",
		DynamoDBEndpoint:   "http://database:8001",
		LambdaEndpoint:     "http://gateway:8080",
		AsyncQueueSize:     1000,
		AsyncWorkers:       4,
		AsyncMaxPayload:    262144,
		AsyncRetryDelays:   []time.Duration{time.Minute, 2 * time.Minute},
		ShutdownGrace:      30 * time.Second,
		WatchInterval:      2 * time.Second,
		AccessLog:          true,
		AccessLogFlush:     100 * time.Millisecond,
	}
}

// fill sets zero fields to their defaults.
func (c *Config) fill() {
	d := Defaults()
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.Project, d.Project)
	set(&c.Region, d.Region)
	set(&c.AccountID, d.AccountID)
	set(&c.AuthPath, d.AuthPath)
	set(&c.AccessKeyID, d.AccessKeyID)
	set(&c.SecretAccessKey, d.SecretAccessKey)
	set(&c.S3Endpoint, d.S3Endpoint)
	set(&c.DynamoDBEndpoint, d.DynamoDBEndpoint)
	set(&c.LambdaEndpoint, d.LambdaEndpoint)
	setD(&c.JWTTTL, d.JWTTTL)
	setD(&c.IntegrationTimeout, d.IntegrationTimeout)
	setD(&c.AcquireTimeout, d.AcquireTimeout)
	setD(&c.IdleTimeout, d.IdleTimeout)
	setD(&c.HeartbeatInterval, d.HeartbeatInterval)
	setD(&c.OrphanGrace, d.OrphanGrace)
	setD(&c.PauseIdle, d.PauseIdle)
	setD(&c.StartTimeout, d.StartTimeout)
	setD(&c.BreakerRecovery, d.BreakerRecovery)
	setD(&c.ShutdownGrace, d.ShutdownGrace)
	setD(&c.WatchInterval, d.WatchInterval)
	setD(&c.AccessLogFlush, d.AccessLogFlush)
	setI(&c.NoRouteStatus, d.NoRouteStatus)
	setI(&c.AsyncQueueSize, d.AsyncQueueSize)
	setI(&c.AsyncWorkers, d.AsyncWorkers)
	setI(&c.AsyncMaxPayload, d.AsyncMaxPayload)
	if c.AsyncRetryDelays == nil {
		c.AsyncRetryDelays = d.AsyncRetryDelays
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AccessLogWriter == nil {
		c.AccessLogWriter = os.Stderr
	}
	if c.Clock == nil {
		c.Clock = pool.RealClock{}
	}
}

func (c *Config) validate() error {
	if c.FunctionsFile == "" || c.RoutingFile == "" {
		return fmt.Errorf("gateway: the functions.yml and routing.yml paths are required (GATEWAY_FUNCTIONS_YML, GATEWAY_ROUTING_YML)")
	}
	if c.HTTPSAddr == "" && c.HTTPAddr == "" {
		return fmt.Errorf("gateway: both HTTPS and HTTP are disabled: enable at least one (ENABLE_SSL, GATEWAY_HTTP_PORT)")
	}
	if c.NoRouteStatus != 404 && c.NoRouteStatus != 403 {
		return fmt.Errorf("gateway: GATEWAY_NO_ROUTE_STATUS=%d: must be 404 or 403", c.NoRouteStatus)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("gateway: SSL_CERT_PATH and SSL_KEY_PATH must be set together")
	}
	if c.HTTPSAddr != "" && c.TLSCertFile == "" && c.CertDir == "" {
		return fmt.Errorf("gateway: HTTPS needs SSL_CERT_PATH/SSL_KEY_PATH or a certificate directory (ESB_CERT_DIR)")
	}
	return nil
}
