package rie

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(list []string) map[string]string { return envMap(list) }

func TestRuntimeEnvPython(t *testing.T) {
	cfg := &Config{
		Runtime: "python3.12", Handler: "app.handler", TaskRoot: "/var/task", FunctionName: "hello",
		FunctionVersion: "$LATEST", MemoryMB: 256, Region: "eu-west-1",
		Environ: []string{"PATH=/usr/bin:/bin", "MY_VAR=1", "_X_AMZN_TRACE_ID=stale", "ESB_RIE_REAP=1",
			"AWS_EXECUTION_ENV=bogus", "PYTHONPATH=/extra", "AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency"},
	}
	env := envOf(runtimeEnv(cfg, "127.0.0.1:9001", "/tmp/rt", "2026/11/27/[$LATEST]abc", true))
	for k, want := range map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          "127.0.0.1:9001",
		"_HANDLER":                        "app.handler",
		"LAMBDA_TASK_ROOT":                "/var/task",
		"LAMBDA_RUNTIME_DIR":              "/tmp/rt",
		"AWS_LAMBDA_FUNCTION_NAME":        "hello",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/hello",
		"AWS_LAMBDA_LOG_STREAM_NAME":      "2026/11/27/[$LATEST]abc",
		"AWS_REGION":                      "eu-west-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"AWS_EXECUTION_ENV":               "AWS_Lambda_python3.12",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "provisioned-concurrency",
		"TZ":                              ":UTC",
		"PATH":                            "/usr/bin:/bin:/opt/bin",
		"PYTHONPATH":                      "/tmp/rt/python:/extra",
		"MY_VAR":                          "1",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	for _, k := range []string{"_X_AMZN_TRACE_ID", "ESB_RIE_REAP"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s leaks into the runtime", k)
		}
	}
	if !strings.Contains(env["LD_LIBRARY_PATH"], "/opt/lib") {
		t.Errorf("LD_LIBRARY_PATH = %q", env["LD_LIBRARY_PATH"])
	}
}

func TestRuntimeEnvNodeAndProvided(t *testing.T) {
	cfg := &Config{Runtime: "nodejs20.x", TaskRoot: "/var/task", FunctionName: "f", FunctionVersion: "$LATEST", MemoryMB: 128, Region: "us-east-1"}
	env := envOf(runtimeEnv(cfg, "a:1", "/tmp/rt", "s", true))
	if env["NODE_PATH"] != "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/task" || env["AWS_EXECUTION_ENV"] != "AWS_Lambda_nodejs20.x" {
		t.Errorf("node env: %v", env)
	}
	cfg = &Config{TaskRoot: "/var/task", FunctionName: "f", FunctionVersion: "$LATEST", MemoryMB: 128, Region: "us-east-1",
		Environ: []string{"AWS_EXECUTION_ENV=x"}}
	env = envOf(runtimeEnv(cfg, "a:1", "", "s", false))
	if _, ok := env["AWS_EXECUTION_ENV"]; ok || env["LAMBDA_RUNTIME_DIR"] != "/var/runtime" {
		t.Errorf("provided env: %v", env)
	}
	if _, ok := env["_HANDLER"]; ok {
		t.Error("_HANDLER set without a handler")
	}
}

func TestLaunchSpecProvided(t *testing.T) {
	root := t.TempDir()
	cfg := &Config{TaskRoot: root, FunctionName: "f", FunctionVersion: "$LATEST", MemoryMB: 128, Region: "us-east-1",
		Environ: []string{"PATH=/usr/bin:/bin"}}
	spec, err := newLaunchSpec(cfg, "127.0.0.1:1", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if spec.dir != root || spec.runtimeID != "provided" {
		t.Fatalf("%+v", spec)
	}
	// No bootstrap anywhere yet: an invalid entrypoint naming the places tried.
	if _, err := spec.resolve(); !errors.Is(err, errInvalidEntrypoint) || !strings.Contains(err.Error(), filepath.Join(root, "bootstrap")) {
		if _, statErr := os.Stat("/var/runtime/bootstrap"); statErr != nil {
			t.Fatalf("resolve without bootstrap: %v", err)
		}
	}
	writeFile(t, filepath.Join(root, "bootstrap"), "#!/bin/sh\n")
	if _, err := spec.resolve(); err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Fatalf("non-executable bootstrap: %v", err)
	}
	os.Chmod(filepath.Join(root, "bootstrap"), 0o755)
	argv, err := spec.resolve()
	if err != nil || argv[0] != filepath.Join(root, "bootstrap") {
		t.Fatalf("%v %v", argv, err)
	}

	cfg.Command = []string{"sh", "-c", "true"}
	spec, _ = newLaunchSpec(cfg, "127.0.0.1:1", "", time.Now())
	argv, err = spec.resolve()
	if err != nil || argv[0] != "/usr/bin/sh" && argv[0] != "/bin/sh" {
		t.Fatalf("PATH lookup: %v %v", argv, err)
	}
	cfg.Command = []string{"no-such-binary-xyz"}
	spec, _ = newLaunchSpec(cfg, "127.0.0.1:1", "", time.Now())
	if _, err := spec.resolve(); !errors.Is(err, errInvalidEntrypoint) {
		t.Fatalf("missing binary: %v", err)
	}
}

// The embedded clients are written out, and written again when something
// deleted them.
func TestLaunchSpecWritesClients(t *testing.T) {
	for _, rt := range []string{"python3.11", "nodejs20.x"} {
		dir := t.TempDir()
		cfg := &Config{Runtime: rt, Handler: "a.b", TaskRoot: t.TempDir(), FunctionName: "f", FunctionVersion: "$LATEST",
			MemoryMB: 128, Region: "us-east-1", Interpreter: "/bin/sh"}
		spec, err := newLaunchSpec(cfg, "127.0.0.1:1", dir, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		argv, err := spec.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if argv[0] != "/bin/sh" {
			t.Fatalf("interpreter override ignored: %v", argv)
		}
		if _, err := os.Stat(argv[1]); err != nil {
			t.Fatalf("%s: client not written: %v", rt, err)
		}
		os.RemoveAll(dir)
		if _, err := spec.resolve(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(argv[1]); err != nil {
			t.Fatalf("%s: client not rewritten after deletion", rt)
		}
	}
}

func TestIDs(t *testing.T) {
	id := newRequestID()
	if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || strings.Count(id, "-") != 4 {
		t.Fatalf("request id %q", id)
	}
	if newRequestID() == id {
		t.Fatal("request ids repeat")
	}
	tr := newTraceID(time.Unix(0x5bef4de7, 0))
	if !strings.HasPrefix(tr, "Root=1-5bef4de7-") || len(tr) != len("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0") ||
		!strings.HasSuffix(tr, ";Sampled=0") {
		t.Fatalf("trace id %q", tr)
	}
	ls := logStreamName(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "$LATEST")
	if !strings.HasPrefix(ls, "2026/11/27/[$LATEST]") || len(ls) != len("2026/11/27/[$LATEST]")+32 {
		t.Fatalf("log stream %q", ls)
	}
}
