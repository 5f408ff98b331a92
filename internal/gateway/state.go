package gateway

import (
	"fmt"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/edgeserverlessbox/esb/internal/gateway/invokeapi"
	"github.com/edgeserverlessbox/esb/internal/gateway/route"
	"github.com/edgeserverlessbox/esb/internal/manifest"
	"github.com/edgeserverlessbox/esb/internal/pool"
)

// function is what the gateway knows of one function.
type function struct {
	name    string
	def     manifest.Function
	arn     string
	timeout time.Duration
}

// state is one loaded generation of functions.yml and routing.yml. Requests
// take a snapshot at their start, so a reload never changes a request midway.
type state struct {
	routes    *route.Table
	functions map[string]*function
	specs     map[string]pool.Spec
	stamp     fileStamp
}

type fileStamp struct {
	fnMod, rtMod   time.Time
	fnSize, rtSize int64
}

func stampOf(fnPath, rtPath string) fileStamp {
	var s fileStamp
	if fi, err := os.Stat(fnPath); err == nil {
		s.fnMod, s.fnSize = fi.ModTime(), fi.Size()
	}
	if fi, err := os.Stat(rtPath); err == nil {
		s.rtMod, s.rtSize = fi.ModTime(), fi.Size()
	}
	return s
}

// loadState reads and checks both files.
func loadState(cfg *Config) (*state, error) {
	stamp := stampOf(cfg.FunctionsFile, cfg.RoutingFile)
	var fns manifest.Functions
	if err := manifest.Load(cfg.FunctionsFile, &fns); err != nil {
		return nil, err
	}
	var rt manifest.Routing
	if err := manifest.Load(cfg.RoutingFile, &rt); err != nil {
		return nil, err
	}
	table, err := route.New(rt.Routes, rt.API)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.RoutingFile, err)
	}
	for i, r := range rt.Routes {
		if _, ok := fns.Functions[r.Function]; !ok {
			return nil, fmt.Errorf("%s: routes[%d] (%s %s): function %q is not in %s", cfg.RoutingFile, i, r.Method, r.Path, r.Function, cfg.FunctionsFile)
		}
	}
	st := &state{routes: table, functions: map[string]*function{}, specs: map[string]pool.Spec{}, stamp: stamp}
	for name, f := range fns.Functions {
		if f.Image == "" {
			return nil, fmt.Errorf("%s: functions.%s.image is empty (run `esb build`)", cfg.FunctionsFile, name)
		}
		if f.Scaling.MinCapacity < 0 || f.Scaling.MaxCapacity < 0 {
			return nil, fmt.Errorf("%s: functions.%s.scaling: capacities must not be negative", cfg.FunctionsFile, name)
		}
		if f.Timeout <= 0 {
			f.Timeout = 3
		}
		if f.MemorySize <= 0 {
			f.MemorySize = 128
		}
		st.functions[name] = &function{
			name: name, def: f, arn: invokeapi.FunctionARN(cfg.Region, cfg.AccountID, name, ""),
			timeout: time.Duration(f.Timeout) * time.Second,
		}
		st.specs[name] = specFor(cfg, name, f)
	}
	return st, nil
}

// specFor composes a function's pool spec and the worker's complete
// environment (docs/contracts.md, "Containers (agent)").
func specFor(cfg *Config, name string, f manifest.Function) pool.Spec {
	// esb build writes max_capacity for every function (its default when the
	// template has no ReservedConcurrentExecutions); 0 is an explicit
	// ReservedConcurrentExecutions: 0 and disables the function, as on AWS.
	max, min := f.Scaling.MaxCapacity, f.Scaling.MinCapacity
	if min > max {
		min = max
	}
	initType := "on-demand"
	if f.Scaling.MinCapacity > 0 {
		initType = "provisioned-concurrency"
	}
	env := make(map[string]string, len(f.Environment)+len(cfg.WorkerEnv)+16)
	maps.Copy(env, f.Environment)
	maps.Copy(env, cfg.WorkerEnv)
	version := "$LATEST"
	maps.Copy(env, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.MemorySize),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(f.Timeout),
		"AWS_LAMBDA_FUNCTION_VERSION":     version,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  initType,
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
		"AWS_REGION":                      cfg.Region,
		"AWS_DEFAULT_REGION":              cfg.Region,
		"AWS_ACCESS_KEY_ID":               cfg.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           cfg.SecretAccessKey,
		"AWS_ENDPOINT_URL_S3":             cfg.S3Endpoint,
		"AWS_ENDPOINT_URL_DYNAMODB":       cfg.DynamoDBEndpoint,
		"AWS_ENDPOINT_URL_LAMBDA":         cfg.LambdaEndpoint,
		"ESB_LOG_FORMAT":                  "json",
	})
	var cmd []string
	if f.ImageConfig != nil && len(f.ImageConfig.Command) > 0 {
		cmd = f.ImageConfig.Command
	}
	return pool.Spec{
		Function: name, Image: f.Image, Env: env, MemoryMB: f.MemorySize, TimeoutSeconds: f.Timeout,
		TmpMB: f.EphemeralStorage, Command: cmd, MaxCapacity: max, MinCapacity: min,
	}
}
