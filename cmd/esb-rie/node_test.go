package main

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func nodeDir(t testing.TB) string {
	dir, err := filepath.Abs("testdata/node")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func startNode(t *testing.T, handler string, env ...string) *rieProc {
	t.Helper()
	needTool(t, nodeBin)
	return startRIE(t, rieOptions{
		args: []string{"--runtime", "nodejs20.x", "--interpreter", nodeBin, handler},
		dir:  nodeDir(t), env: env,
	})
}

func TestNodeAsyncHandler(t *testing.T) {
	r := startNode(t, "index.handler")
	first := r.invokeString(`{"hello":"wörld 😀"}`, "X-Amzn-RequestId", "node-1")
	expectOK(t, first, `{"hello":"wörld 😀"}`)
	if first.header.Get("X-Esb-Init-Duration-Ms") == "" {
		t.Fatal("cold invoke without init duration")
	}
	if rep := r.report("node-1"); rep[4] == "" || rep[3] == "0" {
		t.Fatalf("REPORT %q", rep[0])
	}
	c1 := r.invokeString(`{"action":"count"}`)
	c2 := r.invokeString(`{"action":"count"}`)
	n1, _ := strconv.Atoi(string(c1.body))
	n2, _ := strconv.Atoi(string(c2.body))
	if n2 != n1+1 {
		t.Fatalf("module state not kept: %s then %s", c1.body, c2.body)
	}

	p := r.invokeString(`{"action":"error"}`)
	expectError(t, p, "function")
	var nerr struct {
		ErrorType    string   `json:"errorType"`
		ErrorMessage string   `json:"errorMessage"`
		Trace        []string `json:"trace"`
		StackTrace   []string `json:"stackTrace"`
	}
	json.Unmarshal(p.body, &nerr)
	if nerr.ErrorType != "TypeError" || nerr.ErrorMessage != "boom" || len(nerr.Trace) < 2 ||
		nerr.Trace[0] != "TypeError: boom" || len(nerr.StackTrace) != len(nerr.Trace) {
		t.Fatalf("error object %s", p.body)
	}
	r.waitOutput("\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\"")
	expectError(t, r.invokeString(`{"action":"reject"}`), "function", `"errorType":"Error"`, `"errorMessage":"rejected"`)
	expectError(t, r.invokeString(`not json`), "function", `"errorType":"SyntaxError"`)

	if p := r.invokeString(`{"action":"big","bytes":5000000}`); p.status != 200 || len(p.body) != 5000002 {
		t.Fatalf("5 MB response: %d, %d bytes", p.status, len(p.body))
	}
	expectError(t, r.invokeString(`{"action":"big","bytes":6300000}`), "oversize", "Function.ResponseSizeTooLarge")

	p = r.invokeString(`{"action":"log"}`, "X-Amzn-RequestId", "node-log")
	expectOK(t, p, `"logged"`)
	out := r.waitOutput("END RequestId: node-log")
	seg := out[strings.Index(out, "START RequestId: node-log"):strings.Index(out, "END RequestId: node-log")]
	for _, s := range []string{"\tnode-log\tINFO\tlog line { a: 1 }\n", "\tnode-log\tERROR\terror line\rsecond line\n", "raw stdout\n"} {
		if !strings.Contains(seg, s) {
			t.Errorf("invoke log lacks %q:\n%s", s, seg)
		}
	}
}

func TestNodeContext(t *testing.T) {
	r := startNode(t, "index.handler", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024")
	trace := "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	p := r.invokeString(`{"action":"context"}`,
		"X-Amzn-RequestId", "ctx-id",
		"X-Amzn-Trace-Id", trace,
		"X-Amz-Client-Context", base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"}}`)),
		"X-Amz-Cognito-Identity", `{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}`,
	)
	expectOK(t, p, "")
	var got map[string]any
	json.Unmarshal(p.body, &got)
	want := map[string]any{
		"awsRequestId": "ctx-id", "functionName": "hello", "functionVersion": "$LATEST", "memoryLimitInMB": "1024",
		"invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hello", "logGroupName": "/aws/lambda/hello",
		"clientContext": map[string]any{"custom": map[string]any{"k": "v"}},
		"identity":      map[string]any{"cognitoIdentityId": "cid", "cognitoIdentityPoolId": "pool"},
		"waits":         true, "traceEnv": trace, "execEnv": "AWS_Lambda_nodejs20.x", "cwd": nodeDir(t),
	}
	for k, v := range want {
		if mustJSON(got[k]) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, mustJSON(got[k]), mustJSON(v))
		}
	}
	if rem, _ := got["remaining"].(float64); rem < 2000 || rem > 3000 {
		t.Errorf("remaining %v ms of a 3 s timeout", got["remaining"])
	}
}

// Callback handlers: by default the answer waits for the empty event loop
// (the timer runs inside the invoke); callbackWaitsForEmptyEventLoop=false
// answers at once.
func TestNodeCallbackHandler(t *testing.T) {
	r := startNode(t, "cb.handler")
	start := time.Now()
	p := r.invokeString(`{}`, "X-Amzn-RequestId", "cb-wait")
	expectOK(t, p, `{"viaCallback":true}`)
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("answered after %v, before the event loop was empty", took)
	}
	out := r.waitOutput("END RequestId: cb-wait")
	if !strings.Contains(out[strings.Index(out, "START RequestId: cb-wait"):], "timer fired") {
		t.Fatal("the pending timer did not run inside the invoke")
	}
	start = time.Now()
	expectOK(t, r.invokeString(`{"noWait":true}`), `{"viaCallback":true}`)
	if took := time.Since(start); took > 120*time.Millisecond {
		t.Fatalf("callbackWaitsForEmptyEventLoop=false still waited %v", took)
	}
	expectError(t, r.invokeString(`{"fail":true}`), "function", `"errorMessage":"callback failure"`)
	time.Sleep(200 * time.Millisecond) // let the stray timer of noWait fire
	expectOK(t, r.invokeString(`{}`), `{"viaCallback":true}`)
}

func TestNodeSyncAndCommonJS(t *testing.T) {
	r := startNode(t, "sync.handler")
	expectOK(t, r.invokeString(`{}`), `null`) // as on AWS: the return value of a sync handler is ignored
	r = startNode(t, "cjs.nested.handler")
	expectOK(t, r.invokeString(`{"a":1}`), `{"cjs":true,"event":{"a":1}}`)
}

func TestNodeCrashAndRecovery(t *testing.T) {
	r := startNode(t, "index.handler")
	expectOK(t, r.invokeString(`{"action":"count"}`), "1")
	p := r.invokeString(`{"action":"exit"}`, "X-Amzn-RequestId", "node-crash")
	expectError(t, p, "exit")
	if string(p.body) != `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: node-crash Error: Runtime exited with error: exit status 3"}` {
		t.Fatalf("%s", p.body)
	}
	expectOK(t, r.invokeString(`{"action":"count"}`), "1")

	// An unhandled rejection fails the invoke and ends the runtime, as on
	// AWS; the next invoke gets a fresh one.
	p = r.invokeString(`{"action":"unhandled"}`)
	expectError(t, p, "function", `"errorType":"Runtime.UnhandledPromiseRejection"`, "nobody catches me")
	expectOK(t, r.invokeString(`{"action":"count"}`), "1")
}

func TestNodeTimeoutAndRecovery(t *testing.T) {
	r := startNode(t, "index.handler", "AWS_LAMBDA_FUNCTION_TIMEOUT=0.5")
	expectError(t, r.invokeString(`{"action":"sleep","ms":3000}`), "timeout", "Task timed out after 0.50 seconds")
	expectOK(t, r.invokeString(`{"action":"count"}`), "1")
}

func TestNodeInitErrors(t *testing.T) {
	cases := []struct {
		handler, errorType, message string
	}{
		{"broken.handler", "Runtime.ImportModuleError", "Cannot find module 'no-such-module-xyz'"},
		{"missing.handler", "Runtime.ImportModuleError", "Cannot find module 'missing'"},
		{"syntax.handler", "Runtime.UserCodeSyntaxError", "SyntaxError"},
		{"nohandler.handler", "Runtime.HandlerNotFound", "nohandler.handler is undefined or not exported"},
		{"index", "Runtime.MalformedHandlerName", "Bad handler"},
	}
	for _, c := range cases {
		t.Run(c.handler, func(t *testing.T) {
			t.Parallel()
			r := startNode(t, c.handler)
			for i := 0; i < 2; i++ {
				expectError(t, r.invokeString(`{}`), "init", `"errorType":"`+c.errorType+`"`, c.message)
			}
			r.waitOutput("Error Type: " + c.errorType)
		})
	}
}
