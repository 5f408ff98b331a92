// Command gofn is a test function built with aws-lambda-go: it echoes its
// event, and other behaviours are selected by the event's "action" field.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, e json.RawMessage) (json.RawMessage, error) { return e, nil })
}
