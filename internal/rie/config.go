package rie

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// LogFormat selects how esb-rie prints its output lines.
type LogFormat uint8

const (
	// LogText prints lines as AWS prints them (START/END/REPORT and the
	// runtime's lines verbatim).
	LogText LogFormat = iota
	// LogJSON prints one JSON object per line (docs/contracts.md, "esb-rie
	// output").
	LogJSON
)

// Config is everything esb-rie needs, read once at start from flags and
// environment variables.
type Config struct {
	// Listen is the invoke endpoint's address (default ":8080").
	Listen string
	// RuntimeAPIAddr is the Runtime API's loopback address; port 0 picks a
	// free port (default "127.0.0.1:0").
	RuntimeAPIAddr string
	// Runtime is a managed runtime id (python3.12, nodejs20.x) or "" for a
	// custom runtime (provided.al2, provided.al2023).
	Runtime string
	// Command is the bootstrap and its arguments for a custom runtime; empty
	// means the first existing of $LAMBDA_TASK_ROOT/bootstrap, /opt/bootstrap,
	// /var/runtime/bootstrap.
	Command []string
	// Handler is the function handler (_HANDLER).
	Handler string
	// Interpreter overrides the python3/node executable of a managed runtime.
	Interpreter string
	// RuntimeDir is where the embedded runtime clients are written; empty
	// means a fresh directory under $TMPDIR (or /tmp).
	RuntimeDir string
	// TaskRoot is LAMBDA_TASK_ROOT (default /var/task).
	TaskRoot string
	// FunctionName is AWS_LAMBDA_FUNCTION_NAME (default test_function).
	FunctionName string
	// FunctionVersion is AWS_LAMBDA_FUNCTION_VERSION (default $LATEST).
	FunctionVersion string
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128).
	MemoryMB int
	// Timeout is AWS_LAMBDA_FUNCTION_TIMEOUT (default 3 s).
	Timeout time.Duration
	// InitTimeout bounds a runtime's init (default max(10 s, Timeout)).
	InitTimeout time.Duration
	// ShutdownGrace is how long SIGTERM waits for the in-flight invoke
	// (default 8 s).
	ShutdownGrace time.Duration
	// Region is AWS_REGION (default AWS_DEFAULT_REGION, then us-east-1).
	Region string
	// AccountID goes into the default invoked function ARN (AWS_ACCOUNT_ID,
	// default 123456789012).
	AccountID string
	// LogFormat is ESB_LOG_FORMAT / --log-format (default text).
	LogFormat LogFormat
	// LogLevel filters esb-rie's own diagnostics (default warn).
	LogLevel slog.Level
	// Reap makes esb-rie reap every child (it is PID 1, or --reap).
	Reap bool
	// Environ is the environment esb-rie was started with; the runtime
	// inherits it, with AWS's variables set on top.
	Environ []string
}

// Defaults used when neither a flag nor an environment variable says
// otherwise.
const (
	DefaultListen          = ":8080"
	DefaultRuntimeAPIAddr  = "127.0.0.1:0"
	DefaultTaskRoot        = "/var/task"
	DefaultFunctionName    = "test_function"
	DefaultFunctionVersion = "$LATEST"
	DefaultMemoryMB        = 128
	DefaultTimeout         = 3 * time.Second
	DefaultMinInitTimeout  = 10 * time.Second
	DefaultShutdownGrace   = 8 * time.Second
	DefaultRegion          = "us-east-1"
	DefaultAccountID       = "123456789012"
)

// ErrHelp is returned by ParseConfig for -h/--help; the usage text was
// written to the given output.
var ErrHelp = flag.ErrHelp

// ErrUsage wraps flag syntax errors; the flag package already wrote the
// error and the usage text to the given output.
var ErrUsage = errors.New("usage")

var (
	pythonRuntimeRE = regexp.MustCompile(`^python3\.[0-9]+$`)
	nodeRuntimeRE   = regexp.MustCompile(`^nodejs[0-9]+\.x$`)
)

// ParseConfig reads the command line (without the program name) and the
// environment (as os.Environ returns it) into a Config. pid is esb-rie's
// process id (PID 1 turns reaping on). Usage and flag errors go to out.
func ParseConfig(args, environ []string, pid int, out io.Writer) (Config, error) {
	env := envMap(environ)
	cfg := Config{Environ: environ}

	fs := flag.NewFlagSet("esb-rie", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, `Usage:
  esb-rie [flags] [<bootstrap> [args...]]         run a custom runtime (provided.al2, provided.al2023)
  esb-rie [flags] --runtime <id> <handler>        run the built-in client: python3.9..python3.13, nodejs18.x..nodejs22.x

Invoke it like AWS's emulator:
  curl -d '{}' http://localhost:8080/2015-03-31/functions/function/invocations

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(out, `
Environment: LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_TIMEOUT,
AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_FUNCTION_VERSION, AWS_REGION, _HANDLER,
ESB_LOG_FORMAT (text|json). See docs/esb-rie.md.
`)
	}

	var (
		listen, logFormat, logLevel, initTimeout, grace string
		reap                                            bool
	)
	fs.StringVar(&listen, "listen", DefaultListen, "invoke endpoint address")
	fs.StringVar(&listen, "runtime-interface-emulator-address", DefaultListen, "alias of --listen (AWS's emulator)")
	fs.StringVar(&cfg.RuntimeAPIAddr, "runtime-api-address", DefaultRuntimeAPIAddr, "Runtime API address (loopback; port 0 = any free port)")
	fs.StringVar(&cfg.Runtime, "runtime", "", "built-in runtime client: python3.x or nodejsN.x (empty: custom runtime bootstrap)")
	fs.StringVar(&cfg.Handler, "handler", "", "function handler (default: _HANDLER, or the handler argument)")
	fs.StringVar(&cfg.Interpreter, "interpreter", env["ESB_RIE_INTERPRETER"], "python3/node executable for --runtime (default: found in PATH)")
	fs.StringVar(&cfg.RuntimeDir, "runtime-dir", env["ESB_RIE_RUNTIME_DIR"], "directory the runtime clients are written to (default: a new directory in $TMPDIR)")
	fs.StringVar(&logFormat, "log-format", env["ESB_LOG_FORMAT"], "output format: text or json (env ESB_LOG_FORMAT)")
	fs.StringVar(&logLevel, "log-level", firstNonEmpty(env["ESB_RIE_LOG_LEVEL"], env["LOG_LEVEL"], "warn"), "esb-rie's own diagnostics: debug, info, warn, error")
	fs.StringVar(&initTimeout, "init-timeout", env["ESB_RIE_INIT_TIMEOUT"], "init time limit, seconds (default max(10, function timeout))")
	fs.StringVar(&grace, "shutdown-grace", firstNonEmpty(env["ESB_RIE_SHUTDOWN_GRACE"], "8"), "on SIGTERM, seconds to let the in-flight invoke finish")
	fs.BoolVar(&reap, "reap", env["ESB_RIE_REAP"] == "1" || env["ESB_RIE_REAP"] == "true", "reap orphaned processes even when not PID 1 (sets the child-subreaper flag)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	cfg.Listen = listen
	rest := fs.Args()

	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return Config{}, fmt.Errorf("--listen %q: %v; use host:port, e.g. :8080", cfg.Listen, err)
	}
	host, _, err := net.SplitHostPort(cfg.RuntimeAPIAddr)
	if err != nil {
		return Config{}, fmt.Errorf("--runtime-api-address %q: %v; use host:port, e.g. 127.0.0.1:9001", cfg.RuntimeAPIAddr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return Config{}, fmt.Errorf("--runtime-api-address %q: the Runtime API must stay on loopback; use 127.0.0.1:<port>", cfg.RuntimeAPIAddr)
	}

	switch strings.ToLower(logFormat) {
	case "", "text":
		cfg.LogFormat = LogText
	case "json":
		cfg.LogFormat = LogJSON
	default:
		return Config{}, fmt.Errorf("ESB_LOG_FORMAT/--log-format %q: want text or json", logFormat)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return Config{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}

	cfg.TaskRoot = firstNonEmpty(env["LAMBDA_TASK_ROOT"], DefaultTaskRoot)
	cfg.FunctionName = firstNonEmpty(env["AWS_LAMBDA_FUNCTION_NAME"], DefaultFunctionName)
	cfg.FunctionVersion = firstNonEmpty(env["AWS_LAMBDA_FUNCTION_VERSION"], DefaultFunctionVersion)
	cfg.Region = firstNonEmpty(env["AWS_REGION"], env["AWS_DEFAULT_REGION"], DefaultRegion)
	cfg.AccountID = firstNonEmpty(env["AWS_ACCOUNT_ID"], DefaultAccountID)

	cfg.MemoryMB = DefaultMemoryMB
	if v := env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return Config{}, fmt.Errorf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%q: want a whole number of MB > 0, e.g. 128", v)
		}
		cfg.MemoryMB = n
	}
	cfg.Timeout = DefaultTimeout
	if v := env["AWS_LAMBDA_FUNCTION_TIMEOUT"]; v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return Config{}, fmt.Errorf("AWS_LAMBDA_FUNCTION_TIMEOUT=%q: %v", v, err)
		}
		cfg.Timeout = d
	}
	cfg.InitTimeout = max(DefaultMinInitTimeout, cfg.Timeout)
	if initTimeout != "" {
		d, err := parseSeconds(initTimeout)
		if err != nil {
			return Config{}, fmt.Errorf("--init-timeout/ESB_RIE_INIT_TIMEOUT %q: %v", initTimeout, err)
		}
		cfg.InitTimeout = d
	}
	cfg.ShutdownGrace, err = parseSeconds(grace)
	if err != nil {
		return Config{}, fmt.Errorf("--shutdown-grace/ESB_RIE_SHUTDOWN_GRACE %q: %v", grace, err)
	}

	if cfg.Handler == "" {
		cfg.Handler = firstNonEmpty(env["_HANDLER"], env["AWS_LAMBDA_FUNCTION_HANDLER"])
	}
	switch {
	case cfg.Runtime == "":
		cfg.Command = rest
		// AWS's emulator takes the last of two or more arguments as the
		// handler (esb-rie /usr/bin/python3 -m awslambdaric app.handler).
		if cfg.Handler == "" && len(rest) >= 2 {
			cfg.Handler = rest[len(rest)-1]
		}
	case pythonRuntimeRE.MatchString(cfg.Runtime), nodeRuntimeRE.MatchString(cfg.Runtime):
		switch len(rest) {
		case 0:
		case 1:
			cfg.Handler = rest[0]
		default:
			return Config{}, fmt.Errorf("--runtime %s takes one handler argument, got %q", cfg.Runtime, rest)
		}
		if cfg.Handler == "" {
			return Config{}, fmt.Errorf("--runtime %s needs a handler, e.g. esb-rie --runtime %s %s", cfg.Runtime, cfg.Runtime, exampleHandler(cfg.Runtime))
		}
	case strings.HasPrefix(cfg.Runtime, "provided"):
		return Config{}, fmt.Errorf("--runtime %s: custom runtimes take no --runtime; pass the bootstrap instead, e.g. esb-rie /var/task/bootstrap", cfg.Runtime)
	default:
		return Config{}, fmt.Errorf("--runtime %q: unsupported; use python3.9..python3.13 or nodejs18.x..nodejs22.x, or pass a bootstrap for a custom runtime", cfg.Runtime)
	}

	cfg.Reap = reap || pid == 1
	return cfg, nil
}

func exampleHandler(runtime string) string {
	if strings.HasPrefix(runtime, "nodejs") {
		return "index.handler"
	}
	return "app.handler"
}

// parseSeconds reads "3", "0.5" or a Go duration such as "1500ms".
func parseSeconds(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 || f > 1e6 {
			return 0, errors.New("want a number of seconds > 0, e.g. 3")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("want a number of seconds > 0, e.g. 3")
	}
	return d, nil
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
