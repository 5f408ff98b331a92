package invokeapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func TestParseTarget(t *testing.T) {
	cases := []struct {
		raw, q     string
		name, qual string
		errType    string
	}{
		{"my-function", "", "my-function", "", ""},
		{"my-function:v1", "", "my-function", "v1", ""},
		{"my-function:$LATEST", "", "my-function", "$LATEST", ""},
		{"my-function", "prod", "my-function", "prod", ""},
		{"arn:aws:lambda:us-east-1:123456789012:function:my-function", "", "my-function", "", ""},
		{"arn:aws:lambda:us-east-1:123456789012:function:my-function:live", "live", "my-function", "live", ""},
		{"123456789012:function:my-function", "", "my-function", "", ""},
		{"my-function:v1", "v2", "", "", "InvalidParameterValueException"},
		{"arn:aws:lambda:eu-west-1:123456789012:function:f", "", "", "", "ResourceNotFoundException"},
		{"bad name!", "", "", "", "InvalidParameterValueException"},
		{"f", "bad qualifier!", "", "", "InvalidParameterValueException"},
	}
	for _, c := range cases {
		got, err := ParseTarget(c.raw, c.q, "us-east-1")
		if c.errType != "" {
			if err == nil || err.Type != c.errType {
				t.Errorf("%q %q: err %v, want %s", c.raw, c.q, err, c.errType)
			}
			continue
		}
		if err != nil || got.Name != c.name || got.Qualifier != c.qual {
			t.Errorf("%q %q: %+v %v", c.raw, c.q, got, err)
		}
	}
}

func TestSplitPath(t *testing.T) {
	for in, want := range map[string]string{
		"/2015-03-31/functions/f/invocations": "f",
		"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations": "arn:aws:lambda:us-east-1:123456789012:function:f",
		"/2015-03-31/functions/f/invocations/x":                                                          "",
		"/2015-03-31/functions//invocations":                                                             "",
	} {
		got, ok := SplitPath(in)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v", in, got, ok)
		}
	}
}

func TestErrorBodies(t *testing.T) {
	rec := httptest.NewRecorder()
	Throttled().Write(rec)
	if rec.Code != 429 || rec.Header().Get("X-Amzn-ErrorType") != "TooManyRequestsException" {
		t.Errorf("throttle: %d %v", rec.Code, rec.Header())
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["Reason"] != "ReservedFunctionConcurrentInvocationLimitExceeded" || body["Type"] != "User" || body["message"] != "Rate Exceeded." {
		t.Errorf("throttle body %s: %v", rec.Body, err)
	}
	nf := NotFound("us-east-1", "123456789012", "f", "")
	if nf.Status != 404 || nf.Message != "Function not found: arn:aws:lambda:us-east-1:123456789012:function:f" {
		t.Errorf("not found: %+v", nf)
	}
	if e := TooLarge(300000, InvocationEvent, 262144); e.Status != 413 || e.Type != "RequestEntityTooLargeException" {
		t.Errorf("too large: %+v", e)
	}
	if e := CheckClientContext("!!notbase64"); e == nil {
		t.Error("bad client context accepted")
	}
}

func signed(t *testing.T, akid, secret, url string, body []byte, when time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest("POST", url, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), "lambda", "us-east-1", when)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSigV4WithSDKSigner(t *testing.T) {
	v := &Verifier{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}
	now := time.Now().UTC()
	body := []byte(`{"hello":"world"}`)
	for _, url := range []string{
		"http://gw:8080/2015-03-31/functions/f/invocations",
		"http://gw:8080/2015-03-31/functions/f/invocations?Qualifier=%24LATEST",
		"http://gw:8080/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations",
	} {
		r := signed(t, "AKID", "SECRET", url, body, now)
		if err := v.Verify(r, body, now); err != nil {
			t.Errorf("%s: valid signature refused: %v", url, err)
		}
		if err := v.Verify(r, []byte(`{"hello":"tampered"}`), now); err == nil || err.Type != "InvalidSignatureException" {
			t.Errorf("%s: tampered body: %v", url, err)
		}
	}
	url := "http://gw:8080/2015-03-31/functions/f/invocations"
	if err := v.Verify(signed(t, "AKID", "WRONG", url, body, now), body, now); err == nil || err.Type != "InvalidSignatureException" {
		t.Errorf("wrong secret: %v", err)
	}
	if err := v.Verify(signed(t, "OTHER", "SECRET", url, body, now), body, now); err == nil || err.Type != "UnrecognizedClientException" {
		t.Errorf("unknown key: %v", err)
	}
	if err := v.Verify(signed(t, "AKID", "SECRET", url, body, now.Add(-20*time.Minute)), body, now); err == nil {
		t.Error("expired signature accepted")
	}
	if err := v.Verify(httptest.NewRequest("POST", url, nil), nil, now); err == nil || err.Type != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned: %v", err)
	}
}

func TestQueueRetryPolicy(t *testing.T) {
	var runs sync.Map // id → *atomic.Int32
	outcomes := map[string][]Outcome{
		"ok":      {Done},
		"fails":   {FunctionError, FunctionError, FunctionError, Done},
		"once":    {FunctionError, Done},
		"throttl": {Retry, Retry, Done},
	}
	run := func(_ context.Context, ev *Event) Outcome {
		c, _ := runs.LoadOrStore(ev.ID, new(atomic.Int32))
		n := c.(*atomic.Int32).Add(1)
		return outcomes[ev.ID][n-1]
	}
	dir := t.TempDir()
	q, err := NewQueue(QueueConfig{Capacity: 4, Workers: 2, SpoolDir: dir, RetryDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond}, MaxBackoff: time.Millisecond}, run)
	if err != nil {
		t.Fatal(err)
	}
	for id := range outcomes {
		if err := q.Enqueue(&Event{ID: id, Function: "f", Enqueued: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(&Event{ID: "fifth", Enqueued: time.Now()}); err != ErrQueueFull {
		t.Errorf("fifth event: %v, want ErrQueueFull", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go q.Run(ctx)
	deadline := time.Now().Add(3 * time.Second)
	for q.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	count := func(id string) int32 { c, _ := runs.Load(id); return c.(*atomic.Int32).Load() }
	// AWS: a function error is retried twice (3 runs in all), then dropped.
	if count("ok") != 1 || count("fails") != 3 || count("once") != 2 || count("throttl") != 3 {
		t.Errorf("runs: ok=%d fails=%d once=%d throttl=%d", count("ok"), count("fails"), count("once"), count("throttl"))
	}
	if q.Len() != 0 {
		t.Errorf("pending %d", q.Len())
	}
}

func TestQueueSpoolResumes(t *testing.T) {
	dir := t.TempDir()
	block := make(chan struct{})
	q, _ := NewQueue(QueueConfig{Capacity: 10, Workers: 1, SpoolDir: dir}, func(ctx context.Context, ev *Event) Outcome {
		<-ctx.Done()
		close(block)
		return Done
	})
	q.Enqueue(&Event{ID: "e1", Function: "f", Payload: []byte(`{"a":1}`), Enqueued: time.Now()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	time.Sleep(10 * time.Millisecond)
	cancel() // "crash" while the event runs
	<-done
	var got *Event
	q2, err := NewQueue(QueueConfig{Capacity: 10, Workers: 1, SpoolDir: dir}, func(_ context.Context, ev *Event) Outcome { got = ev; return Done })
	if err != nil || q2.Len() != 1 {
		t.Fatalf("reload: %v len=%d", err, q2.Len())
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go q2.Run(ctx2)
	for q2.Len() > 0 {
		time.Sleep(time.Millisecond)
	}
	cancel2()
	if got == nil || got.ID != "e1" || string(got.Payload) != `{"a":1}` {
		t.Errorf("resumed event: %+v", got)
	}
}
