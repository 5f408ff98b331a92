package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/edgeserverlessbox/esb/internal/gateway/worker/workertest"
	"github.com/edgeserverlessbox/esb/internal/manifest"
)

func lambdaClient(endpoint, akid, secret string) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func invokeFunctions() (manifest.Functions, *atomic.Int32, chan string) {
	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"echo":  {Image: "echo:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 2}},
		"fail":  {Image: "fail:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 1}},
		"async": {Image: "async:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 1}},
		"chain": {Image: "chain:latest", Timeout: 3, Scaling: manifest.Scaling{MaxCapacity: 1}},
	}}
	return fns, new(atomic.Int32), make(chan string, 16)
}

func TestInvokeAPIWithSDK(t *testing.T) {
	ag := newFakeAgent()
	fns, asyncRuns, traces := invokeFunctions()
	ag.handle("echo:latest", func(c *workertest.Call) workertest.Reply {
		c.Log("echo handler ran")
		return workertest.Reply{Payload: c.Payload}
	})
	ag.handle("fail:latest", func(c *workertest.Call) workertest.Reply {
		return workertest.Reply{ErrorKind: "function", Payload: []byte(`{"errorType":"ValueError","errorMessage":"bad input","stackTrace":[]}`)}
	})
	ag.handle("async:latest", func(c *workertest.Call) workertest.Reply {
		n := asyncRuns.Add(1)
		traces <- c.TraceID
		if string(c.Payload) == `{"fail":true}` && n < 3 {
			return workertest.Reply{ErrorKind: "function", Payload: []byte(`{"errorType":"E","errorMessage":"retry me"}`)}
		}
		return workertest.Reply{Payload: []byte(`null`)}
	})
	e := startGateway(t, ag, fns, manifest.Routing{}, nil)
	cl := lambdaClient(e.http, "any", "any")
	ctx := context.Background()

	// Sync invoke.
	out, err := cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"hello":"world"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 200 || string(out.Payload) != `{"hello":"world"}` || out.FunctionError != nil || aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Errorf("sync: %d %s %v %v", out.StatusCode, out.Payload, out.FunctionError, out.ExecutedVersion)
	}
	// Over HTTPS (HTTP/2) with the local CA.
	tlsClient := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.https), HTTPClient: e.client,
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", ""), RetryMaxAttempts: 1})
	if out, err := tlsClient.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`[1,2]`)}); err != nil || string(out.Payload) != `[1,2]` {
		t.Errorf("invoke over HTTPS: %v", err)
	}
	// By ARN, with a qualifier, and with Tail.
	out, err = cl.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:echo"), Qualifier: aws.String("$LATEST"),
		Payload: []byte(`{}`), LogType: types.LogTypeTail,
	})
	if err != nil {
		t.Fatal(err)
	}
	logs, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if !strings.Contains(string(logs), "echo handler ran") || !strings.Contains(string(logs), "START RequestId:") {
		t.Errorf("tail logs: %q", logs)
	}
	// Function error: 200 with FunctionError Unhandled and the error JSON.
	out, err = cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fail"), Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), `"errorType":"ValueError"`) {
		t.Errorf("function error: %v %s", out.FunctionError, out.Payload)
	}
	// DryRun.
	out, err = cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Errorf("dry run: %v %v", out, err)
	}
	// Unknown function, bad JSON, too large.
	_, err = cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || !strings.Contains(rnf.ErrorMessage(), "function:nope") {
		t.Errorf("unknown function: %v", err)
	}
	_, err = cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{not json`)})
	var irc *types.InvalidRequestContentException
	if !errors.As(err, &irc) {
		t.Errorf("bad json: %v", err)
	}
	_, err = cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: bytes.Repeat([]byte(" "), 6291457)})
	var tooLarge *types.RequestTooLargeException
	var apiErr smithy.APIError
	if !errors.As(err, &tooLarge) && !(errors.As(err, &apiErr) && apiErr.ErrorCode() == "RequestEntityTooLargeException") {
		t.Errorf("too large: %v", err)
	}
	_, err = cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("async"), InvocationType: types.InvocationTypeEvent,
		Payload: append([]byte(`"`), append(bytes.Repeat([]byte("a"), 262144), '"')...)})
	if !(errors.As(err, &apiErr) && apiErr.ErrorCode() == "RequestEntityTooLargeException") {
		t.Errorf("async too large: %v", err)
	}

	// Async: 202 at once, run later; a function error is retried (twice at most).
	out, err = cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("async"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"fail":true}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("async: %v %v", out, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for asyncRuns.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if asyncRuns.Load() != 3 {
		t.Errorf("async runs %d, want 3 (two failures, then success)", asyncRuns.Load())
	}
	for range 3 {
		if tr := <-traces; !validTrace(tr) {
			t.Errorf("async invoke without a trace id: %q", tr)
		}
	}
}

func TestInvokeAPISigV4(t *testing.T) {
	ag := newFakeAgent()
	ag.handle("echo:latest", func(c *workertest.Call) workertest.Reply { return workertest.Reply{Payload: c.Payload} })
	e := startGateway(t, ag, oneFunction("echo", "echo:latest", 1), manifest.Routing{}, func(c *Config) {
		c.VerifySigV4 = true
		c.AccessKeyID, c.SecretAccessKey = "AKIDLOCAL", "local-secret"
	})
	ctx := context.Background()
	out, err := lambdaClient(e.http, "AKIDLOCAL", "local-secret").Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:echo"), Payload: []byte(`{"a":1}`)})
	if err != nil || string(out.Payload) != `{"a":1}` {
		t.Fatalf("signed with the configured key: %v", err)
	}
	_, err = lambdaClient(e.http, "AKIDLOCAL", "wrong").Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{}`)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("wrong secret: %v", err)
	}
	resp, err := http.Post(e.http+"/2015-03-31/functions/echo/invocations", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("unsigned: %d", resp.StatusCode)
	}
}

// TestChainedInvokeKeepsTrace: a function calls another through the Invoke
// API with the trace header it was given (as botocore's recursion detection
// does from _X_AMZN_TRACE_ID); both see the same trace.
func TestChainedInvokeKeepsTrace(t *testing.T) {
	ag := newFakeAgent()
	fns, _, traces := invokeFunctions()
	var gatewayURL atomic.Value
	ag.handle("echo:latest", func(c *workertest.Call) workertest.Reply {
		traces <- c.TraceID
		return workertest.Reply{Payload: c.Payload}
	})
	ag.handle("chain:latest", func(c *workertest.Call) workertest.Reply {
		traces <- c.TraceID
		req, _ := http.NewRequest("POST", gatewayURL.Load().(string)+"/2015-03-31/functions/echo/invocations", bytes.NewReader(c.Payload))
		req.Header.Set("X-Amzn-Trace-Id", c.TraceID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return workertest.Reply{ErrorKind: "function", Payload: []byte(`{"errorMessage":"` + err.Error() + `"}`)}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return workertest.Reply{Payload: b}
	})
	e := startGateway(t, ag, fns, manifest.Routing{}, nil)
	gatewayURL.Store(e.http)
	trace := "Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=1"
	r := e.do("POST", e.http+"/2015-03-31/functions/chain/invocations", []byte(`{"x":1}`), map[string]string{"X-Amzn-Trace-Id": trace})
	if r.status != 200 || string(r.body) != `{"x":1}` {
		t.Fatalf("chained invoke: %d %s", r.status, r.body)
	}
	first, second := <-traces, <-traces
	if first != trace || second != trace || r.header.Get("X-Amzn-Trace-Id") != trace {
		t.Errorf("trace not kept across the chain: %q → %q (response %q)", first, second, r.header.Get("X-Amzn-Trace-Id"))
	}
}
