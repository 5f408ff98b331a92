// Command lambdaecho is an aws-lambda-go function for benchmarks and tests:
// it returns its event, or a small proxy response when the event comes from
// an API Gateway route (it has a requestContext).
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

var proxyReply = json.RawMessage(`{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"hello\":\"world\"}"}`)

func handle(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	var probe struct {
		RequestContext json.RawMessage `json:"requestContext"`
	}
	if json.Unmarshal(event, &probe) == nil && probe.RequestContext != nil {
		return proxyReply, nil
	}
	return event, nil
}

func main() { lambda.Start(handle) }
