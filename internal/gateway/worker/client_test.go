package worker_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeserverlessbox/esb/internal/gateway/worker"
	"github.com/edgeserverlessbox/esb/internal/gateway/worker/workertest"
)

const path = "/2015-03-31/functions/function/invocations"

func TestInvoke(t *testing.T) {
	var seen workertest.Call
	w := workertest.New(func(c *workertest.Call) workertest.Reply {
		seen = *c
		c.Log("hello log")
		if string(c.Payload) == `"fail"` {
			return workertest.Reply{ErrorKind: worker.KindFunction, Payload: []byte(`{"errorType":"E","errorMessage":"m"}`)}
		}
		return workertest.Reply{Payload: c.Payload}
	})
	defer w.Close()
	c := worker.NewClient()
	deadline := time.Now().Add(time.Second).Truncate(time.Millisecond)
	res, err := c.Invoke(context.Background(), &worker.Invocation{
		URL: w.Server.URL + path, Payload: []byte(`{"a":1}`), RequestID: "rid", TraceID: "Root=1-abc",
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:f", Tail: true, Deadline: deadline,
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != `{"a":1}` || res.Failed() || res.InitDuration == "" {
		t.Errorf("result: %+v", res)
	}
	logs, _ := base64.StdEncoding.DecodeString(res.LogResult)
	if !strings.Contains(string(logs), "hello log") || !strings.Contains(string(logs), "START RequestId: rid") {
		t.Errorf("tail: %q", logs)
	}
	if seen.RequestID != "rid" || seen.TraceID != "Root=1-abc" || !seen.Deadline.Equal(deadline) || !strings.HasSuffix(seen.FunctionARN, ":f") {
		t.Errorf("worker saw %+v", seen)
	}
	res.Release()

	res, err = c.Invoke(context.Background(), &worker.Invocation{URL: w.Server.URL + path, Payload: []byte(`"fail"`)})
	if err != nil || !res.Failed() || res.ErrorKind != "function" || res.FunctionError != "Unhandled" {
		t.Errorf("function error: %+v %v", res, err)
	}
}

func TestInvokeFailures(t *testing.T) {
	block := make(chan struct{})
	w := workertest.New(func(c *workertest.Call) workertest.Reply { <-block; return workertest.Reply{Payload: []byte("{}")} })
	defer w.Close()
	defer close(block)
	c := worker.NewClient()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Invoke(ctx, &worker.Invocation{URL: w.Server.URL + path}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
	// The first invoke still runs: a second one is refused by the worker.
	if _, err := c.Invoke(context.Background(), &worker.Invocation{URL: w.Server.URL + path}); !errors.Is(err, worker.ErrProtocol) {
		t.Errorf("busy worker: %v", err)
	}
	if _, err := c.Invoke(context.Background(), &worker.Invocation{URL: "http://127.0.0.1:1" + path}); err == nil {
		t.Error("connection refused must be an error")
	}
}
