package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func pythonDir(t testing.TB) string {
	dir, err := filepath.Abs("testdata/python")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func startPython(t *testing.T, handler string, env ...string) *rieProc {
	t.Helper()
	needTool(t, pythonBin)
	return startRIE(t, rieOptions{
		args: []string{"--runtime", "python3.11", "--interpreter", pythonBin, handler},
		dir:  pythonDir(t), env: env,
	})
}

func TestPythonHandler(t *testing.T) {
	r := startPython(t, "app.handler", "AWS_LAMBDA_FUNCTION_TIMEOUT=2")

	first := r.invokeString(`{"hello":"wörld"}`, "X-Amzn-RequestId", "py-1")
	expectOK(t, first, `{"hello": "w\u00f6rld"}`) // python3.11: ensure_ascii, as AWS's python3.11
	if first.header.Get("X-Esb-Init-Duration-Ms") == "" {
		t.Fatal("cold invoke without init duration")
	}
	if rep := r.report("py-1"); rep[4] == "" || rep[3] == "0" {
		t.Fatalf("REPORT %q", rep[0])
	}

	// Module state stays warm.
	c1 := r.invokeString(`{"action":"count"}`)
	c2 := r.invokeString(`{"action":"count"}`)
	n1, _ := strconv.Atoi(string(c1.body))
	n2, _ := strconv.Atoi(string(c2.body))
	if n2 != n1+1 || n1 < 2 {
		t.Fatalf("counter %s then %s", c1.body, c2.body)
	}

	p := r.invokeString(`{"action":"error"}`, "X-Amzn-RequestId", "py-err")
	expectError(t, p, "function")
	var perr struct {
		ErrorMessage string   `json:"errorMessage"`
		ErrorType    string   `json:"errorType"`
		RequestID    string   `json:"requestId"`
		StackTrace   []string `json:"stackTrace"`
	}
	if err := json.Unmarshal(p.body, &perr); err != nil {
		t.Fatal(err)
	}
	if perr.ErrorMessage != "boom" || perr.ErrorType != "ValueError" || perr.RequestID != "py-err" ||
		len(perr.StackTrace) == 0 || !strings.Contains(perr.StackTrace[len(perr.StackTrace)-1], "app.py") ||
		strings.Contains(strings.Join(perr.StackTrace, ""), "esb_runtime.py") {
		t.Fatalf("error object %+v", perr)
	}
	r.waitOutput("[ERROR] ValueError: boom\rTraceback (most recent call last):\r")

	expectOK(t, r.invokeString(`{"action":"decimal"}`), `{"int": 3, "float": 1.5}`)
	p = r.invokeString(`{"action":"unmarshalable"}`)
	expectError(t, p, "function", `"errorType": "Runtime.MarshalError"`, "Unable to marshal response")
	p = r.invokeString(`not json`)
	expectError(t, p, "function", `"errorType": "Runtime.UnmarshalError"`)

	uni := `{"text": "日本語 😀"}`
	if p := r.invokeString(uni); p.status != 200 {
		t.Fatalf("unicode: %v", p)
	} else {
		var back map[string]string
		json.Unmarshal(p.body, &back)
		if back["text"] != "日本語 😀" {
			t.Fatalf("unicode came back as %q", back["text"])
		}
	}

	// 5 MB out is fine; over 6 MB is Function.ResponseSizeTooLarge.
	if p := r.invokeString(`{"action":"big","bytes":5000000}`); p.status != 200 || len(p.body) != 5000002 {
		t.Fatalf("5 MB response: %d, %d bytes", p.status, len(p.body))
	}
	expectError(t, r.invokeString(`{"action":"big","bytes":6300000}`), "oversize", "Function.ResponseSizeTooLarge")
	expectOK(t, r.invokeString(`{"after":"oversize"}`), `{"after": "oversize"}`)

	// Logs: print, the root logger in AWS's format (multi-line records
	// kept on one line), stderr; all before END.
	p = r.invokeString(`{"action":"log"}`, "X-Amzn-RequestId", "py-log")
	expectOK(t, p, `"logged"`)
	out := r.waitOutput("END RequestId: py-log")
	seg := out[strings.Index(out, "START RequestId: py-log"):strings.Index(out, "END RequestId: py-log")]
	for _, s := range []string{"print line\n", "[INFO]\t", "\tpy-log\tinfo line\rwith a second line\n", "stderr line\n"} {
		if !strings.Contains(seg, s) {
			t.Errorf("invoke log lacks %q:\n%s", s, seg)
		}
	}
	if strings.Contains(seg, "debug line") {
		t.Error("logger level not honoured")
	}
}

func TestPythonContext(t *testing.T) {
	r := startPython(t, "app.handler", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512")
	trace := "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	p := r.invokeString(`{"action":"context"}`,
		"X-Amzn-RequestId", "ctx-id",
		"X-Amzn-Trace-Id", trace,
		"X-Amz-Client-Context", base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"},"client":{"app_title":"app"}}`)),
		"X-Amz-Cognito-Identity", `{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}`,
		"X-Esb-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:hello:prod",
	)
	expectOK(t, p, "")
	var got map[string]any
	json.Unmarshal(p.body, &got)
	want := map[string]any{
		"request_id": "ctx-id", "function_name": "hello", "function_version": "$LATEST", "memory_limit_in_mb": "512",
		"invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:hello:prod",
		"log_group_name":       "/aws/lambda/hello", "client_custom": map[string]any{"k": "v"}, "client_app_title": "app",
		"identity_id": "cid", "identity_pool": "pool", "trace_env": trace, "exec_env": "AWS_Lambda_python3.11",
		"tz": ":UTC", "cwd": pythonDir(t), "sys_path0": pythonDir(t),
	}
	for k, v := range want {
		if mustJSON(got[k]) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, mustJSON(got[k]), mustJSON(v))
		}
	}
	if rem, _ := got["remaining_ms"].(float64); rem < 2000 || rem > 3000 {
		t.Errorf("remaining %v ms of a 3 s timeout", got["remaining_ms"])
	}
	// The trace id changes with every invoke.
	p = r.invokeString(`{"action":"context"}`, "X-Amzn-Trace-Id", "Root=1-00000000-000000000000000000000001")
	json.Unmarshal(p.body, &got)
	if got["trace_env"] != "Root=1-00000000-000000000000000000000001" {
		t.Errorf("second trace %v", got["trace_env"])
	}
}

func TestPythonNestedHandler(t *testing.T) {
	r := startPython(t, "subdir/nested.handler")
	expectOK(t, r.invokeString(`{}`), `"nested"`)
}

func TestPythonCrashAndRecovery(t *testing.T) {
	r := startPython(t, "app.handler")
	expectOK(t, r.invokeString(`{"action":"count"}`), "1")
	p := r.invokeString(`{"action":"exit"}`, "X-Amzn-RequestId", "py-crash")
	expectError(t, p, "exit")
	if string(p.body) != `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: py-crash Error: Runtime exited with error: exit status 3"}` {
		t.Fatalf("%s", p.body)
	}
	// A fresh interpreter: module state starts over.
	expectOK(t, r.invokeString(`{"action":"count"}`), "1")
	expectError(t, r.invokeString(`{"action":"sysexit"}`), "exit", "exit status 4")
	expectOK(t, r.invokeString(`{"action":"count"}`), "1")
}

func TestPythonTimeoutAndRecovery(t *testing.T) {
	r := startPython(t, "app.handler", "AWS_LAMBDA_FUNCTION_TIMEOUT=0.5")
	p := r.invokeString(`{"action":"sleep","ms":3000}`, "X-Amzn-RequestId", "py-slow")
	expectError(t, p, "timeout", "Task timed out after 0.50 seconds")
	expectOK(t, r.invokeString(`{"action":"count"}`), "1")
}

func TestPythonInitErrors(t *testing.T) {
	cases := []struct {
		handler, errorType, message string
	}{
		{"broken_import.handler", "Runtime.ImportModuleError", "Unable to import module 'broken_import': No module named 'no_such_module_xyz'"},
		{"syntax_err.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'syntax_err'"},
		{"nohandler.handler", "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'nohandler'"},
		{"missing_module.handler", "Runtime.ImportModuleError", "Unable to import module 'missing_module'"},
		{"nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"},
		{"init_raises.handler", "RuntimeError", "module init exploded"},
	}
	for _, c := range cases {
		t.Run(c.handler, func(t *testing.T) {
			t.Parallel()
			r := startPython(t, c.handler)
			for i := 0; i < 2; i++ { // reported on every invoke
				p := r.invokeString(`{}`)
				expectError(t, p, "init", `"errorType": "`+c.errorType+`"`, c.message)
			}
			r.waitOutput("[ERROR] " + c.errorType)
			r.waitOutput("Error Type: " + c.errorType)
		})
	}
}

// The sitecustomize hook: boto3/botocore 1.29 honour AWS_ENDPOINT_URL_<SERVICE>
// and AWS_ENDPOINT_URL, and the per-invoke _X_AMZN_TRACE_ID travels with
// the calls (botocore's recursion detection).
func TestPythonBoto3ConfiguredEndpoints(t *testing.T) {
	needBoto3(t)
	s3 := newFakeAWS(t, "s3")
	ddb := newFakeAWS(t, "dynamodb")
	r := startPython(t, "app.handler", "AWS_ENDPOINT_URL_S3="+s3.srv.URL, "AWS_ENDPOINT_URL="+ddb.srv.URL, "AWS_REGION=us-east-1")
	trace := "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	p := r.invokeString(`{"action":"aws"}`, "X-Amzn-Trace-Id", trace)
	expectOK(t, p, "")
	var got map[string]string
	json.Unmarshal(p.body, &got)
	if got["s3"] != s3.srv.URL || got["dynamodb"] != ddb.srv.URL {
		t.Fatalf("clients resolved %v", got)
	}
	if s3.count() != 1 || ddb.count() != 1 {
		t.Fatalf("requests: s3 %d, dynamodb %d", s3.count(), ddb.count())
	}
	if s3.lastTrace() != trace || ddb.lastTrace() != trace {
		t.Fatalf("X-Amzn-Trace-Id: s3 %q, dynamodb %q, want %q", s3.lastTrace(), ddb.lastTrace(), trace)
	}
}

// The hook on its own, in a plain python3 process: precedence, the
// opt-out, and the image's own sitecustomize still running.
func TestSitecustomizeDirect(t *testing.T) {
	needBoto3(t)
	s3 := newFakeAWS(t, "s3")
	other := newFakeAWS(t, "s3")
	hookDir, _ := filepath.Abs("../../runtimes/python")
	chainDir, _ := filepath.Abs("testdata/sitecustomize_chain")
	script := `
import json, os, boto3
out = {"chained": os.environ.get("ESB_CHAINED_SITECUSTOMIZE")}
out["env"] = boto3.client("s3").meta.endpoint_url
out["explicit"] = boto3.client("s3", endpoint_url="` + other.srv.URL + `").meta.endpoint_url
out["positional"] = boto3.session.Session().client("s3", "us-east-1", None, True, None, "` + other.srv.URL + `").meta.endpoint_url
out["global"] = boto3.client("sqs").meta.endpoint_url
boto3.client("s3").list_buckets()
os.environ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
out["ignored"] = boto3.client("s3").meta.endpoint_url
print(json.dumps(out))
`
	cmd := exec.Command(pythonBin, "-c", script)
	cmd.Env = []string{
		"PYTHONPATH=" + hookDir + ":" + chainDir, "HOME=" + t.TempDir(), "PYTHONDONTWRITEBYTECODE=1",
		"AWS_ENDPOINT_URL_S3=" + s3.srv.URL, "AWS_ENDPOINT_URL=http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b", "AWS_DEFAULT_REGION=us-east-1",
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s", out)
	}
	want := map[string]string{
		"chained": "ran", "env": s3.srv.URL, "explicit": other.srv.URL, "positional": other.srv.URL,
		"global": "http://127.0.0.1:1", "ignored": "https://s3.amazonaws.com",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if s3.count() != 1 {
		t.Errorf("the configured endpoint got %d requests", s3.count())
	}
}

// fakeAWS stands in for S3 or DynamoDB: it answers the one call the tests
// make and records the requests.
type fakeAWS struct {
	srv    *httptest.Server
	mu     sync.Mutex
	n      int
	traces []string
}

func newFakeAWS(t *testing.T, service string) *fakeAWS {
	f := &fakeAWS{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.n++
		f.traces = append(f.traces, r.Header.Get("X-Amzn-Trace-Id"))
		f.mu.Unlock()
		if service == "s3" {
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Owner><ID>x</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		fmt.Fprint(w, `{"TableNames":[]}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAWS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *fakeAWS) lastTrace() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.traces) == 0 {
		return ""
	}
	return f.traces[len(f.traces)-1]
}

// As PID 1 (here: --reap, which also makes esb-rie a child subreaper),
// esb-rie reaps processes the function leaves behind.
func TestReapOrphans(t *testing.T) {
	r := startPython(t, "app.handler", "ESB_RIE_REAP=1")
	expectOK(t, r.invokeString(`{"action":"orphan"}`), `"spawned"`)
	pid := r.cmd.Process.Pid
	deadline := time.Now().Add(3 * time.Second)
	for {
		zombies, orphans := childrenOf(pid)
		if zombies == 0 && orphans == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d zombies and %d live orphans left under esb-rie", zombies, orphans)
		}
		time.Sleep(50 * time.Millisecond)
	}
	expectOK(t, r.invokeString(`{"action":"count"}`), "2")
}

// childrenOf counts esb-rie's zombie children, and its live children other
// than the runtime (python3).
func childrenOf(pid int) (zombies, others int) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		switch {
		case f[0] == "Z":
			zombies++
		case !strings.Contains(s[:i], "python3"):
			others++
		}
	}
	return zombies, others
}

// pythonInterpreters finds python3.9 … python3.13 on this machine (PATH,
// pyenv), so the client is exercised on every version that is installed.
func pythonInterpreters() map[string]string {
	found := map[string]string{}
	home, _ := os.UserHomeDir()
	for minor := 9; minor <= 13; minor++ {
		name := fmt.Sprintf("python3.%d", minor)
		if p, err := exec.LookPath(name); err == nil && !strings.Contains(p, "/shims/") {
			found[name] = p
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(home, ".pyenv/versions", fmt.Sprintf("3.%d.*", minor), "bin", "python3"))
		if len(matches) > 0 {
			found[name] = matches[len(matches)-1]
		}
	}
	return found
}

// TestPythonVersions runs the client on each installed Python 3.9–3.13
// (CI has Debian's 3.11 only; developer machines often have more).
func TestPythonVersions(t *testing.T) {
	versions := pythonInterpreters()
	if len(versions) == 0 {
		t.Skip("no python3.9–python3.13 interpreter found")
	}
	for name, interp := range versions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := startRIE(t, rieOptions{
				args: []string{"--runtime", name, "--interpreter", interp, "app.handler"},
				dir:  pythonDir(t),
			})
			p := r.invokeString(`{"text":"ü"}`)
			if p.header.Get("X-Esb-Error-Kind") != "" {
				t.Fatalf("%s on %s: %s\n%s", name, interp, p.body, r.stdout)
			}
			want := `{"text": "\u00fc"}`
			if name >= "python3.12" && len(name) == len("python3.12") {
				want = `{"text": "ü"}` // AWS's python3.12+ runtimes keep non-ASCII as is
			}
			expectOK(t, p, want)
			expectError(t, r.invokeString(`{"action":"error"}`), "function", `"errorType": "ValueError"`)
			p = r.invokeString(`{"action":"context"}`, "X-Amzn-Trace-Id", "Root=1-abc")
			var got map[string]any
			json.Unmarshal(p.body, &got)
			if got["trace_env"] != "Root=1-abc" || got["exec_env"] != "AWS_Lambda_"+name {
				t.Fatalf("context %s", p.body)
			}
			expectError(t, r.invokeString(`{"action":"exit"}`), "exit")
			expectOK(t, r.invokeString(`{"action":"count"}`), "1")
		})
	}
}

// needBoto3 skips without Debian's python3-boto3, unless ESB_E2E=1 says
// the environment must have it.
func needBoto3(t *testing.T) {
	t.Helper()
	needTool(t, pythonBin)
	if err := exec.Command(pythonBin, "-c", "import boto3").Run(); err != nil {
		if os.Getenv("ESB_E2E") == "1" {
			t.Fatalf("python3-boto3 is required with ESB_E2E=1: %v", err)
		}
		t.Skip("python3-boto3 not installed (apt-get install python3-boto3); skipping")
	}
}
