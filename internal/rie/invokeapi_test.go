package rie

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type httpResult struct {
	status int
	header http.Header
	body   string
}

func (h *harness) post(path, body string, hdr map[string]string) httpResult {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.invoke.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, resp.Header, string(b)}
}

const invokePath = "/2015-03-31/functions/function/invocations"

// A runtime that answers with the metadata it received.
func metadataEcho(rt *fakeRuntime) error {
	for {
		ev, err := rt.next()
		if err != nil {
			return err
		}
		out, _ := json.Marshal(map[string]string{
			"id": ev.id, "trace": ev.header.Get("Lambda-Runtime-Trace-Id"),
			"arn":   ev.header.Get("Lambda-Runtime-Invoked-Function-Arn"),
			"cc":    ev.header.Get("Lambda-Runtime-Client-Context"),
			"ci":    ev.header.Get("Lambda-Runtime-Cognito-Identity"),
			"event": string(ev.body),
		})
		if err := rt.respond(ev.id, out); err != nil {
			return err
		}
	}
}

func TestInvokeEndpointHeaders(t *testing.T) {
	h := newHarness(t, metadataEcho)
	cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"a":"b"}}`))
	r := h.post("/2015-03-31/functions/anything-goes/invocations", `{"k":"v"}`, map[string]string{
		"X-Amzn-RequestId":           "req-123",
		"X-Amzn-Trace-Id":            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		"X-Amz-Client-Context":       cc,
		"X-Amz-Cognito-Identity":     `{"cognitoIdentityId":"i"}`,
		"X-Esb-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn:live",
		"X-Amz-Log-Type":             "Tail",
	})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id": "req-123", "trace": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		"arn": "arn:aws:lambda:us-east-1:123456789012:function:fn:live", "cc": `{"custom":{"a":"b"}}`,
		"ci": `{"cognitoIdentityId":"i"}`, "event": `{"k":"v"}`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if r.header.Get("X-Amzn-RequestId") != "req-123" || r.header.Get("X-Amz-Function-Error") != "" ||
		r.header.Get("X-Esb-Init-Duration-Ms") == "" || r.header.Get("X-Esb-Duration-Ms") == "" ||
		r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Amz-Executed-Version") != "$LATEST" {
		t.Errorf("response headers %v", r.header)
	}
	tail, err := base64.StdEncoding.DecodeString(r.header.Get("X-Amz-Log-Result"))
	if err != nil || !strings.HasPrefix(string(tail), "START RequestId: req-123 Version: $LATEST\n") ||
		!strings.Contains(string(tail), "\nREPORT RequestId: req-123\t") {
		t.Errorf("log tail %q (%v)", tail, err)
	}

	// Defaults: a generated request id and trace header, the ARN built
	// from the name, an empty body as {}.
	r = h.post(invokePath, "", nil)
	json.Unmarshal([]byte(r.body), &got)
	if len(got["id"]) != 36 || r.header.Get("X-Amzn-RequestId") != got["id"] || !strings.HasPrefix(got["trace"], "Root=1-") ||
		got["arn"] != "arn:aws:lambda:us-east-1:123456789012:function:fn" || got["event"] != "{}" || got["cc"] != "" {
		t.Errorf("defaults: %v", got)
	}
	if r.header.Get("X-Esb-Init-Duration-Ms") != "" || r.header.Get("X-Amz-Log-Result") != "" {
		t.Errorf("warm invoke headers %v", r.header)
	}
}

func TestInvokeEndpointErrors(t *testing.T) {
	h := newHarness(t, func(rt *fakeRuntime) error {
		for {
			ev, err := rt.next()
			if err != nil {
				return err
			}
			if string(ev.body) == `"sleep"` {
				if err := rt.sleep(300 * time.Millisecond); err != nil {
					return err
				}
			}
			if err := rt.fail(ev.id, []byte(`{"errorType":"E","errorMessage":"m"}`), "E"); err != nil {
				return err
			}
		}
	})
	r := h.post(invokePath, `{}`, nil)
	if r.status != 200 || r.header.Get("X-Amz-Function-Error") != "Unhandled" || r.header.Get("X-Esb-Error-Kind") != "function" ||
		r.body != `{"errorType":"E","errorMessage":"m"}` {
		t.Fatalf("function error: %d %v %s", r.status, r.header, r.body)
	}

	r = h.post(invokePath, `{}`, map[string]string{"X-Amz-Client-Context": "%%%not base64"})
	if r.status != 400 || r.header.Get("X-Amzn-Errortype") != "InvalidRequestContentException" {
		t.Fatalf("bad client context: %d %s", r.status, r.body)
	}
	r = h.post(invokePath, `{}`, map[string]string{"X-Esb-Deadline-Ms": "soon"})
	if r.status != 400 || !strings.Contains(r.body, "X-Esb-Deadline-Ms") {
		t.Fatalf("bad deadline: %d %s", r.status, r.body)
	}
	r = h.post(invokePath, strings.Repeat("x", MaxRequestBytes+1), nil)
	if r.status != 413 || r.header.Get("X-Amzn-Errortype") != "RequestEntityTooLargeException" ||
		!strings.Contains(r.body, "Request must be smaller than 6291456 bytes for the InvokeFunction operation") {
		t.Fatalf("oversize request: %d %s", r.status, r.body)
	}
	r = h.post("/2015-03-31/functions/a/b/invocations", `{}`, nil)
	if r.status != 404 {
		t.Fatalf("bad path: %d", r.status)
	}

	// 429 for a concurrent invoke, never interleaved.
	var wg sync.WaitGroup
	wg.Add(1)
	var first httpResult
	go func() { defer wg.Done(); first = h.post(invokePath, `"sleep"`, nil) }()
	h.waitState(StateInvoking)
	r = h.post(invokePath, `{}`, nil)
	var body map[string]string
	json.Unmarshal([]byte(r.body), &body)
	if r.status != 429 || body["errorType"] != "TooManyRequestsException" || body["Type"] != "User" ||
		r.header.Get("X-Amzn-Errortype") != "TooManyRequestsException" {
		t.Fatalf("concurrent invoke: %d %s", r.status, r.body)
	}
	wg.Wait()
	if first.status != 200 {
		t.Fatalf("first invoke: %d", first.status)
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t, echoLoop)
	resp, err := http.Get(h.invoke.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"state":"idle"`)) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	h.s.drain(expiredContext())
	resp, _ = http.Get(h.invoke.URL + "/healthz")
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("draining: %d", resp.StatusCode)
	}
	r := h.post(invokePath, `{}`, nil)
	if r.status != http.StatusServiceUnavailable && r.status != http.StatusTooManyRequests {
		t.Fatalf("invoke while draining: %d %s", r.status, r.body)
	}
}
