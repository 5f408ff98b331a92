// Command gofn is the test function built with aws-lambda-go (the real
// runtime client). A JSON event's "action" picks a behaviour; any other
// payload, binary included, is echoed byte for byte.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type handler struct{}

type event struct {
	Action string `json:"action"`
	Ms     int    `json:"ms"`
	Bytes  int    `json:"bytes"`
}

func (handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil || ev.Action == "" {
		return payload, nil
	}
	switch ev.Action {
	case "error":
		return nil, errors.New("boom")
	case "panic":
		panic("oops")
	case "exit":
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
		return payload, nil
	case "big":
		return append(append([]byte{'"'}, bytes.Repeat([]byte{'a'}, ev.Bytes)...), '"'), nil
	case "log":
		fmt.Println("stdout line from go")
		log.Printf("stderr line from go")
		return []byte(`"logged"`), nil
	case "context":
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		return json.Marshal(map[string]any{
			"request_id":    lc.AwsRequestID,
			"arn":           lc.InvokedFunctionArn,
			"client_custom": lc.ClientContext.Custom,
			"identity_id":   lc.Identity.CognitoIdentityID,
			"identity_pool": lc.Identity.CognitoIdentityPoolID,
			"deadline_ms":   deadline.UnixMilli(),
			"trace_env":     os.Getenv("_X_AMZN_TRACE_ID"),
			"function_name": lambdacontext.FunctionName,
			"memory_mb":     lambdacontext.MemoryLimitInMB,
			"version":       lambdacontext.FunctionVersion,
			"log_group":     lambdacontext.LogGroupName,
			"log_stream":    lambdacontext.LogStreamName,
			"handler":       os.Getenv("_HANDLER"),
			"task_root":     os.Getenv("LAMBDA_TASK_ROOT"),
			"region":        os.Getenv("AWS_REGION"),
			"tz":            os.Getenv("TZ"),
			"exec_env":      os.Getenv("AWS_EXECUTION_ENV"),
			"init_type":     os.Getenv("AWS_LAMBDA_INITIALIZATION_TYPE"),
			"runtime_api":   os.Getenv("AWS_LAMBDA_RUNTIME_API"),
		})
	}
	return nil, fmt.Errorf("unknown action %q", ev.Action)
}

func main() {
	if os.Getenv("GOFN_INIT_FAIL") != "" {
		fmt.Fprintln(os.Stderr, "gofn: init failed on purpose")
		os.Exit(2)
	}
	lambda.Start(handler{})
}
