package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func startGo(t *testing.T, env ...string) *rieProc {
	t.Helper()
	return startRIE(t, rieOptions{args: []string{gofnBin}, dir: t.TempDir(), env: env})
}

func TestGoEchoAndReport(t *testing.T) {
	r := startGo(t)
	first := r.invokeString(`{"hello":"world"}`, "X-Amzn-RequestId", "11111111-1111-4111-8111-111111111111")
	expectOK(t, first, `{"hello":"world"}`)
	if first.header.Get("X-Esb-Init-Duration-Ms") == "" || first.header.Get("X-Amzn-RequestId") != "11111111-1111-4111-8111-111111111111" {
		t.Fatalf("cold invoke headers: %v", first.header)
	}
	second := r.invokeString(`[1,2,3]`)
	expectOK(t, second, `[1,2,3]`)
	if second.header.Get("X-Esb-Init-Duration-Ms") != "" {
		t.Fatal("warm invoke reports an init")
	}
	rep := r.report("11111111-1111-4111-8111-111111111111")
	if rep[2] != "128" || rep[3] == "0" || rep[4] == "" {
		t.Fatalf("REPORT fields: memory %s, max used %s, init %q", rep[2], rep[3], rep[4])
	}
	if rep := r.report(second.header.Get("X-Amzn-RequestId")); rep[4] != "" {
		t.Fatal("warm REPORT has an Init Duration")
	}
	out := r.stdout.String()
	for _, s := range []string{"INIT_START Runtime Version: provided\n", "START RequestId: 11111111-1111-4111-8111-111111111111 Version: $LATEST\n",
		"END RequestId: 11111111-1111-4111-8111-111111111111\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
}

func TestGoFunctionError(t *testing.T) {
	r := startGo(t)
	p := r.invokeString(`{"action":"error"}`)
	expectError(t, p, "function", `"errorMessage":"boom"`, `"errorType":"errorString"`)
	expectOK(t, r.invokeString(`"still warm"`), `"still warm"`)
}

// A panic is reported by aws-lambda-go, which then exits; the next invoke
// gets a fresh runtime.
func TestGoPanicAndRecovery(t *testing.T) {
	r := startGo(t)
	expectOK(t, r.invokeString(`1`), `1`)
	p := r.invokeString(`{"action":"panic"}`)
	expectError(t, p, "function", `"errorMessage":"oops"`, `"errorType":"string"`)
	next := r.invokeString(`2`)
	expectOK(t, next, `2`)
	if next.header.Get("X-Esb-Init-Duration-Ms") == "" {
		t.Fatal("invoke after the panic did not pay for a new init")
	}
}

func TestGoCrashAndRecovery(t *testing.T) {
	r := startGo(t)
	p := r.invokeString(`{"action":"exit"}`, "X-Amzn-RequestId", "crash-id")
	expectError(t, p, "exit")
	if string(p.body) != `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: crash-id Error: Runtime exited with error: exit status 3"}` {
		t.Fatalf("%s", p.body)
	}
	expectOK(t, r.invokeString(`"recovered"`), `"recovered"`)
	if rep := r.report(p.header.Get("X-Amzn-RequestId")); !strings.Contains(rep[0], "Status: error\tError Type: Runtime.ExitError") {
		t.Fatalf("REPORT: %q", rep[0])
	}
}

func TestGoTimeoutAndRecovery(t *testing.T) {
	r := startGo(t, "AWS_LAMBDA_FUNCTION_TIMEOUT=0.5")
	start := time.Now()
	p := r.invokeString(`{"action":"sleep","ms":5000}`, "X-Amzn-RequestId", "slow-id")
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("timeout took %v", took)
	}
	expectError(t, p, "timeout")
	if string(p.body) != `{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: slow-id Error: Task timed out after 0.50 seconds"}` {
		t.Fatalf("%s", p.body)
	}
	next := r.invokeString(`"after"`)
	expectOK(t, next, `"after"`)
	if next.header.Get("X-Esb-Init-Duration-Ms") == "" {
		t.Fatal("invoke after a timeout ran on the killed runtime")
	}
	r.waitOutput("slow-id Task timed out after 0.50 seconds")
	if rep := r.report("slow-id"); !strings.Contains(rep[0], "Status: timeout") {
		t.Fatalf("REPORT: %q", rep[0])
	}
}

// A runtime that dies during init: reported on every invoke.
func TestGoInitError(t *testing.T) {
	r := startGo(t, "GOFN_INIT_FAIL=1")
	for i := 0; i < 2; i++ {
		p := r.invokeString(`{}`, "X-Amzn-RequestId", "init-"+strconv.Itoa(i))
		expectError(t, p, "init", `"errorType":"Runtime.ExitError"`, "RequestId: init-"+strconv.Itoa(i)+" Error: Runtime exited with error: exit status 2")
	}
	r.waitOutput("gofn: init failed on purpose")
	r.waitOutput("INIT_REPORT Init Duration: ")
}

func TestGoContextAndEnvironment(t *testing.T) {
	r := startGo(t, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_REGION=eu-central-1")
	trace := "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	deadline := time.Now().Add(1500 * time.Millisecond).UnixMilli()
	p := r.invokeString(`{"action":"context"}`,
		"X-Amzn-RequestId", "ctx-id",
		"X-Amzn-Trace-Id", trace,
		"X-Amz-Client-Context", base64.StdEncoding.EncodeToString([]byte(`{"custom":{"tenant":"a"}}`)),
		"X-Amz-Cognito-Identity", `{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}`,
		"X-Esb-Invoked-Function-Arn", "arn:aws:lambda:eu-central-1:123456789012:function:hello:live",
		"X-Esb-Deadline-Ms", strconv.FormatInt(deadline, 10),
	)
	expectOK(t, p, "")
	var got map[string]any
	if err := json.Unmarshal(p.body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"request_id": "ctx-id", "arn": "arn:aws:lambda:eu-central-1:123456789012:function:hello:live",
		"client_custom": map[string]any{"tenant": "a"}, "identity_id": "cid", "identity_pool": "pool",
		"deadline_ms": float64(deadline), "trace_env": trace, "function_name": "hello", "memory_mb": 256.0,
		"version": "$LATEST", "log_group": "/aws/lambda/hello", "region": "eu-central-1", "tz": ":UTC",
		"exec_env": "", "init_type": "on-demand",
	}
	for k, v := range want {
		if b1, _ := json.Marshal(got[k]); string(b1) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, b1, mustJSON(v))
		}
	}
	if ls, _ := got["log_stream"].(string); !strings.Contains(ls, "/[$LATEST]") {
		t.Errorf("log stream %q", ls)
	}
	if api, _ := got["runtime_api"].(string); !strings.HasPrefix(api, "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API %q", api)
	}
	// Without a trace header esb-rie makes one, so _X_AMZN_TRACE_ID is
	// always set, as on Lambda.
	p = r.invokeString(`{"action":"context"}`)
	json.Unmarshal(p.body, &got)
	if tr, _ := got["trace_env"].(string); !strings.HasPrefix(tr, "Root=1-") || !strings.HasSuffix(tr, ";Sampled=0") {
		t.Errorf("generated trace %q", tr)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestGoPayloads(t *testing.T) {
	r := startGo(t)
	binary := make([]byte, 256*4)
	for i := range binary {
		binary[i] = byte(i)
	}
	if p := r.invoke(binary); p.status != 200 || !bytes.Equal(p.body, binary) {
		t.Fatalf("binary payload came back as %d bytes", len(p.body))
	}
	uni := `{"text":"日本語 ünïcödé 😀 \u2028 \"quoted\""}`
	expectOK(t, r.invokeString(uni), uni)

	// 6 MB each way: the largest request passes, one byte more is refused.
	large := bytes.Repeat([]byte{'x'}, 6291456)
	large[0], large[len(large)-1] = '"', '"'
	if p := r.invoke(large); p.status != 200 || !bytes.Equal(p.body, large) {
		t.Fatalf("6 MB echo: %d, %d bytes", p.status, len(p.body))
	}
	p := r.invoke(append(large, ' '))
	if p.status != 413 || p.header.Get("X-Amzn-Errortype") != "RequestEntityTooLargeException" {
		t.Fatalf("oversize request: %v", p)
	}
	p = r.invokeString(`{"action":"big","bytes":6291554}`) // 6291556 with quotes: at the limit
	if p.status != 200 || len(p.body) != 6291556 || p.header.Get("X-Amz-Function-Error") != "" {
		t.Fatalf("response at the limit: %d, %d bytes, %v", p.status, len(p.body), p.header.Get("X-Esb-Error-Kind"))
	}
	p = r.invokeString(`{"action":"big","bytes":6291555}`)
	expectError(t, p, "oversize")
	if string(p.body) != `{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"Response payload size (6291557 bytes) exceeded maximum allowed payload size (6291556 bytes)."}` {
		t.Fatalf("%s", p.body)
	}
	expectOK(t, r.invokeString(`"after"`), `"after"`)
}

func TestGoConcurrentInvokeGets429(t *testing.T) {
	r := startGo(t)
	var wg sync.WaitGroup
	wg.Add(1)
	var slow reply
	go func() { defer wg.Done(); slow = r.invokeString(`{"action":"sleep","ms":600}`) }()
	time.Sleep(200 * time.Millisecond)
	p := r.invokeString(`{}`)
	if p.status != 429 || !strings.Contains(string(p.body), `"errorType":"TooManyRequestsException"`) {
		t.Fatalf("second invoke: %v", p)
	}
	wg.Wait()
	expectOK(t, slow, "")
}

func TestGoLogsJSONAndTail(t *testing.T) {
	r := startGo(t, "ESB_LOG_FORMAT=json")
	trace := "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
	p := r.invokeString(`{"action":"log"}`, "X-Amzn-RequestId", "log-id", "X-Amzn-Trace-Id", trace, "X-Amz-Log-Type", "Tail")
	expectOK(t, p, `"logged"`)
	tail, err := base64.StdEncoding.DecodeString(p.header.Get("X-Amz-Log-Result"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"START RequestId: log-id", "stdout line from go\n", "stderr line from go\n", "END RequestId: log-id\n", "REPORT RequestId: log-id\t"} {
		if !strings.Contains(string(tail), s) {
			t.Errorf("tail lacks %q:\n%s", s, tail)
		}
	}
	out := r.waitOutput(`"type":"platform.report"`)
	seen := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if rec["function"] != "hello" || rec["time"] == nil || rec["level"] == nil {
			t.Fatalf("record lacks fields: %s", line)
		}
		msg, _ := rec["message"].(string)
		switch {
		case msg == "stdout line from go":
			seen["stdout"] = rec
		case strings.HasSuffix(msg, "stderr line from go"):
			seen["stderr"] = rec
		case strings.HasPrefix(msg, "REPORT"):
			seen["report"] = rec
		}
	}
	if s := seen["stdout"]; s == nil || s["type"] != "function" || s["request_id"] != "log-id" || s["trace_id"] != trace || s["stream"] != "stdout" || s["level"] != "info" {
		t.Errorf("stdout record %v", seen["stdout"])
	}
	if s := seen["stderr"]; s == nil || s["stream"] != "stderr" || s["level"] != "error" {
		t.Errorf("stderr record %v", seen["stderr"])
	}
	if s := seen["report"]; s == nil || s["type"] != "platform.report" || s["duration_ms"] == nil {
		t.Errorf("report record %v", seen["report"])
	}
}

// SIGTERM lets the invoke in flight finish, refuses new ones, exits 0.
func TestSIGTERMFinishesInFlightInvoke(t *testing.T) {
	r := startGo(t, "ESB_RIE_SHUTDOWN_GRACE=5")
	done := make(chan reply, 1)
	go func() { done <- r.invokeString(`{"action":"sleep","ms":700}`) }()
	time.Sleep(200 * time.Millisecond)
	r.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(50 * time.Millisecond)
	late := r.invokeString(`{}`)
	if late.status != 429 && late.status != 503 {
		t.Fatalf("invoke during shutdown: %v", late)
	}
	expectOK(t, <-done, `{"action":"sleep","ms":700}`)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("esb-rie did not exit after the in-flight invoke")
	}
	if r.err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", r.err, r.stderr)
	}
}

// A bootstrap that does not exist is reported per invoke as AWS does.
func TestMissingBootstrap(t *testing.T) {
	r := startRIE(t, rieOptions{dir: t.TempDir()})
	p := r.invokeString(`{}`, "X-Amzn-RequestId", "x")
	expectError(t, p, "init", `"errorType":"Runtime.InvalidEntrypoint"`, "bootstrap")
}

func TestUsageErrors(t *testing.T) {
	out, err := runQuiet(rieBin, "--runtime", "ruby3.2", "app.handler")
	if err == nil || !strings.Contains(out, "unsupported") {
		t.Fatalf("unsupported runtime: %v %s", err, out)
	}
	out, err = runQuiet(rieBin, "--listen", "127.0.0.1:1", "--runtime", "python3.12")
	if err == nil || !strings.Contains(out, "needs a handler") {
		t.Fatalf("missing handler: %v %s", err, out)
	}
}

// A shell bootstrap using curl, as in AWS's custom runtime tutorial; a 2 MB
// answer makes curl send Expect: 100-continue.
func TestCurlBootstrap(t *testing.T) {
	needTool(t, "/usr/bin/curl")
	dir, _ := filepath.Abs("testdata/shell")
	r := startRIE(t, rieOptions{dir: dir}) // finds $LAMBDA_TASK_ROOT/bootstrap
	expectOK(t, r.invokeString(`{"from":"curl"}`, "X-Amzn-RequestId", "sh-1"), `{"from":"curl"}`)
	r.waitOutput("echoing sh-1\n")
	p := r.invokeString(`{"size":2000000}`)
	if p.status != 200 || len(p.body) != 2000002 || p.header.Get("X-Amz-Function-Error") != "" {
		t.Fatalf("2 MB answer: %d, %d bytes, %s", p.status, len(p.body), p.header.Get("X-Esb-Error-Kind"))
	}
	expectOK(t, r.invokeString(`[true]`), `[true]`)
}
