package rie

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig(nil, nil, 42, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.RuntimeAPIAddr != "127.0.0.1:0" || cfg.TaskRoot != "/var/task" ||
		cfg.FunctionName != "test_function" || cfg.FunctionVersion != "$LATEST" || cfg.MemoryMB != 128 ||
		cfg.Timeout != 3*time.Second || cfg.InitTimeout != 10*time.Second || cfg.ShutdownGrace != 8*time.Second ||
		cfg.Region != "us-east-1" || cfg.AccountID != "123456789012" || cfg.LogFormat != LogText ||
		cfg.LogLevel != slog.LevelWarn || cfg.Reap || cfg.Runtime != "" || len(cfg.Command) != 0 {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, _ = ParseConfig(nil, nil, 1, io.Discard)
	if !cfg.Reap {
		t.Fatal("PID 1 does not reap")
	}
}

func TestParseConfigEnvAndFlags(t *testing.T) {
	env := []string{
		"LAMBDA_TASK_ROOT=/srv/fn", "AWS_LAMBDA_FUNCTION_NAME=hello", "AWS_LAMBDA_FUNCTION_TIMEOUT=30",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_DEFAULT_REGION=eu-west-1", "ESB_LOG_FORMAT=JSON",
		"AWS_LAMBDA_FUNCTION_VERSION=7",
	}
	cfg, err := ParseConfig([]string{"--listen", "127.0.0.1:9000", "--runtime", "python3.12", "app.handler"}, env, 7, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9000" || cfg.TaskRoot != "/srv/fn" || cfg.FunctionName != "hello" ||
		cfg.Timeout != 30*time.Second || cfg.InitTimeout != 30*time.Second || cfg.MemoryMB != 512 ||
		cfg.Region != "eu-west-1" || cfg.LogFormat != LogJSON || cfg.Runtime != "python3.12" ||
		cfg.Handler != "app.handler" || cfg.FunctionVersion != "7" {
		t.Fatalf("%+v", cfg)
	}

	cfg, err = ParseConfig([]string{"/usr/bin/python3", "-m", "awslambdaric", "app.handler"}, []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=0.5"}, 7, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Command, " ") != "/usr/bin/python3 -m awslambdaric app.handler" || cfg.Handler != "app.handler" ||
		cfg.Timeout != 500*time.Millisecond {
		t.Fatalf("custom runtime like AWS's emulator: %+v", cfg)
	}
	cfg, err = ParseConfig([]string{"--runtime-interface-emulator-address", "0.0.0.0:8081", "/var/task/bootstrap"}, []string{"_HANDLER=x.y"}, 7, io.Discard)
	if err != nil || cfg.Listen != "0.0.0.0:8081" || cfg.Handler != "x.y" {
		t.Fatalf("%+v %v", cfg, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--listen", "nope"}, nil, "--listen"},
		{[]string{"--runtime-api-address", "0.0.0.0:9001"}, nil, "loopback"},
		{nil, []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=abc"}, "AWS_LAMBDA_FUNCTION_TIMEOUT"},
		{nil, []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=-1"}, "seconds > 0"},
		{nil, []string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=lots"}, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"},
		{nil, []string{"ESB_LOG_FORMAT=xml"}, "text or json"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--runtime", "python3.12"}, nil, "needs a handler"},
		{[]string{"--runtime", "nodejs20.x", "a.b", "c"}, nil, "one handler argument"},
		{[]string{"--runtime", "ruby3.2", "a.b"}, nil, "unsupported"},
		{[]string{"--runtime", "provided.al2"}, nil, "pass the bootstrap"},
		{[]string{"--init-timeout", "soon"}, nil, "--init-timeout"},
		{[]string{"--shutdown-grace", "0"}, nil, "--shutdown-grace"},
	}
	for _, c := range cases {
		_, err := ParseConfig(c.args, c.env, 7, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseConfig(%q, %q) = %v, want an error about %q", c.args, c.env, err, c.want)
		}
	}
	if _, err := ParseConfig([]string{"--bogus"}, nil, 7, io.Discard); !errors.Is(err, ErrUsage) {
		t.Errorf("unknown flag: %v", err)
	}
	var out strings.Builder
	if _, err := ParseConfig([]string{"-h"}, nil, 7, &out); !errors.Is(err, ErrHelp) || !strings.Contains(out.String(), "--runtime") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
}
