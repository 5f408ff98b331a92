package rie

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgeserverlessbox/esb/runtimes/node"
	"github.com/edgeserverlessbox/esb/runtimes/python"
)

// launchSpec says how to start the runtime: its environment, working
// directory and (resolved anew at every init, so a missing file is reported
// per invoke as on AWS) its command line.
type launchSpec struct {
	runtimeID string // "python3.12", "nodejs20.x" or "provided"
	env       []string
	dir       string
	resolve   func() ([]string, error)
}

// errInvalidEntrypoint marks a runtime that cannot be started at all.
var errInvalidEntrypoint = errors.New("invalid entrypoint")

// defaultBootstraps are tried in order when a custom runtime is given no
// command, as AWS does: the function's code, then layers, then the image.
func defaultBootstraps(taskRoot string) []string {
	return []string{filepath.Join(taskRoot, "bootstrap"), "/opt/bootstrap", "/var/runtime/bootstrap"}
}

// newLaunchSpec prepares the runtime's start: for a built-in runtime it
// writes the embedded client into runtimeDir.
func newLaunchSpec(cfg *Config, runtimeAPI, runtimeDir string, now time.Time) (*launchSpec, error) {
	spec := &launchSpec{dir: cfg.TaskRoot}
	if st, err := os.Stat(cfg.TaskRoot); err != nil || !st.IsDir() {
		// AWS runs the runtime in /var/task; without it, stay where we are.
		spec.dir = ""
	}
	managed := cfg.Runtime != ""
	logStream := logStreamName(now, cfg.FunctionVersion)
	switch {
	case strings.HasPrefix(cfg.Runtime, "python"):
		spec.runtimeID = cfg.Runtime
		if err := writeClient(python.Files(), filepath.Join(runtimeDir, "python")); err != nil {
			return nil, err
		}
		script := filepath.Join(runtimeDir, "python", "esb_runtime.py")
		spec.env = runtimeEnv(cfg, runtimeAPI, runtimeDir, logStream, managed)
		path := lookupEnv(spec.env, "PATH")
		spec.resolve = func() ([]string, error) {
			if err := ensureClient(python.Files(), filepath.Join(runtimeDir, "python")); err != nil {
				return nil, err
			}
			interp, err := findInterpreter(cfg.Interpreter, path, cfg.Runtime, "python3")
			if err != nil {
				return nil, err
			}
			return []string{interp, script}, nil
		}
	case strings.HasPrefix(cfg.Runtime, "nodejs"):
		spec.runtimeID = cfg.Runtime
		if err := writeClient(node.Files(), filepath.Join(runtimeDir, "node")); err != nil {
			return nil, err
		}
		script := filepath.Join(runtimeDir, "node", "esb-runtime.cjs")
		spec.env = runtimeEnv(cfg, runtimeAPI, runtimeDir, logStream, managed)
		path := lookupEnv(spec.env, "PATH")
		spec.resolve = func() ([]string, error) {
			if err := ensureClient(node.Files(), filepath.Join(runtimeDir, "node")); err != nil {
				return nil, err
			}
			interp, err := findInterpreter(cfg.Interpreter, path, "node")
			if err != nil {
				return nil, err
			}
			return []string{interp, script}, nil
		}
	default:
		spec.runtimeID = "provided"
		spec.env = runtimeEnv(cfg, runtimeAPI, runtimeDir, logStream, managed)
		path := lookupEnv(spec.env, "PATH")
		command := cfg.Command
		spec.resolve = func() ([]string, error) {
			argv := command
			if len(argv) == 0 {
				for _, b := range defaultBootstraps(cfg.TaskRoot) {
					if st, err := os.Stat(b); err == nil && !st.IsDir() {
						argv = []string{b}
						break
					}
				}
				if len(argv) == 0 {
					return nil, fmt.Errorf("%w: no bootstrap: none of %s exists; pass the bootstrap as esb-rie's argument",
						errInvalidEntrypoint, strings.Join(defaultBootstraps(cfg.TaskRoot), ", "))
				}
			}
			exe, err := lookPath(argv[0], path)
			if err != nil {
				return nil, err
			}
			return append([]string{exe}, argv[1:]...), nil
		}
	}
	return spec, nil
}

// findInterpreter returns explicit if set, else the first of names found
// in path.
func findInterpreter(explicit, path string, names ...string) (string, error) {
	if explicit != "" {
		return lookPath(explicit, path)
	}
	var firstErr error
	for _, n := range names {
		p, err := lookPath(n, path)
		if err == nil {
			return p, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}

// lookPath finds an executable like exec.LookPath, but in the runtime's
// PATH rather than esb-rie's.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		if err := isExecutable(name); err != nil {
			return "", fmt.Errorf("%w: %s: %v", errInvalidEntrypoint, name, err)
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s: executable file not found in PATH (%s)", errInvalidEntrypoint, name, path)
}

func isExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errors.New("no such file or directory")
		}
		return err
	}
	if st.IsDir() {
		return errors.New("is a directory")
	}
	if st.Mode().Perm()&0o111 == 0 {
		return errors.New("permission denied (not executable)")
	}
	return nil
}

// writeClient writes the embedded client files into dir.
func writeClient(files fs.FS, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write runtime client to %s: %w (set --runtime-dir to a writable directory)", dir, err)
	}
	return fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, path)
		tmp := dst + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return fmt.Errorf("write runtime client file %s: %w", dst, err)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("write runtime client file %s: %w", dst, err)
		}
		return nil
	})
}

// ensureClient rewrites the client files if any went missing (user code
// that empties /tmp, for example).
func ensureClient(files fs.FS, dir string) error {
	missing := false
	_ = fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, path)); err != nil {
				missing = true
			}
		}
		return nil
	})
	if !missing {
		return nil
	}
	return writeClient(files, dir)
}

// runtimeEnv builds the runtime's environment: esb-rie's own, with the
// variables AWS reserves set the way AWS sets them.
func runtimeEnv(cfg *Config, runtimeAPI, runtimeDir, logStream string, managed bool) []string {
	env := envMap(cfg.Environ)
	set := func(k, v string) { env[k] = v }
	setDefault := func(k, v string) {
		if env[k] == "" {
			env[k] = v
		}
	}
	for k := range env {
		if strings.HasPrefix(k, "ESB_RIE_") {
			delete(env, k)
		}
	}
	// Set per invoke by the runtime client, from Lambda-Runtime-Trace-Id.
	delete(env, "_X_AMZN_TRACE_ID")

	set("AWS_LAMBDA_RUNTIME_API", runtimeAPI)
	set("LAMBDA_TASK_ROOT", cfg.TaskRoot)
	set("AWS_LAMBDA_FUNCTION_NAME", cfg.FunctionName)
	set("AWS_LAMBDA_FUNCTION_VERSION", cfg.FunctionVersion)
	set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", fmt.Sprint(cfg.MemoryMB))
	set("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/"+cfg.FunctionName)
	set("AWS_LAMBDA_LOG_STREAM_NAME", logStream)
	set("AWS_REGION", cfg.Region)
	setDefault("AWS_DEFAULT_REGION", cfg.Region)
	setDefault("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
	set("TZ", ":UTC")
	setDefault("LANG", "C.UTF-8")
	if cfg.Handler != "" {
		set("_HANDLER", cfg.Handler)
	}

	path := env["PATH"]
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	if !containsPathEntry(path, "/opt/bin") {
		path += ":/opt/bin"
	}
	set("PATH", path)
	libDirs := []string{"/lib64", "/usr/lib64"}
	if managed {
		libDirs = append(libDirs, runtimeDir, filepath.Join(runtimeDir, "lib"))
	} else {
		libDirs = append(libDirs, "/var/runtime", "/var/runtime/lib")
	}
	libDirs = append(libDirs, cfg.TaskRoot, filepath.Join(cfg.TaskRoot, "lib"), "/opt/lib")
	setDefault("LD_LIBRARY_PATH", strings.Join(libDirs, ":"))

	switch {
	case strings.HasPrefix(cfg.Runtime, "python"):
		set("LAMBDA_RUNTIME_DIR", runtimeDir)
		set("AWS_EXECUTION_ENV", "AWS_Lambda_"+cfg.Runtime)
		// The client's directory first, so its sitecustomize runs in every
		// Python process of the function (and chains to the image's own).
		pp := filepath.Join(runtimeDir, "python")
		if old := env["PYTHONPATH"]; old != "" {
			pp += ":" + old
		}
		set("PYTHONPATH", pp)
	case strings.HasPrefix(cfg.Runtime, "nodejs"):
		set("LAMBDA_RUNTIME_DIR", runtimeDir)
		set("AWS_EXECUTION_ENV", "AWS_Lambda_"+cfg.Runtime)
		major := strings.TrimSuffix(strings.TrimPrefix(cfg.Runtime, "nodejs"), ".x")
		setDefault("NODE_PATH", strings.Join([]string{
			"/opt/nodejs/node" + major + "/node_modules", "/opt/nodejs/node_modules", cfg.TaskRoot,
		}, ":"))
	default:
		set("LAMBDA_RUNTIME_DIR", "/var/runtime")
		// AWS leaves AWS_EXECUTION_ENV unset for provided runtimes.
		delete(env, "AWS_EXECUTION_ENV")
	}

	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func containsPathEntry(path, dir string) bool {
	for _, p := range filepath.SplitList(path) {
		if p == dir {
			return true
		}
	}
	return false
}

// lookupEnv returns the value of key in a KEY=VALUE list.
func lookupEnv(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
