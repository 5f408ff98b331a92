// Command caller logs, then invokes callee asynchronously (InvocationType
// Event) with the AWS SDK's Lambda client, which carries the trace id.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

type event struct {
	N int `json:"n"`
}

func handle(ctx context.Context, ev event) (map[string]any, error) {
	fmt.Printf("caller got n=%d\n", ev.N)
	log.Printf("caller invoking callee for n=%d", ev.N)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	out, err := lambdasvc.NewFromConfig(cfg).Invoke(ctx, &lambdasvc.InvokeInput{
		FunctionName:   aws.String("callee"),
		InvocationType: types.InvocationTypeEvent,
		Payload:        []byte(fmt.Sprintf(`{"n":%d}`, ev.N)),
	})
	if err != nil {
		return nil, fmt.Errorf("invoke callee: %w", err)
	}
	fmt.Printf("caller queued callee: status %d\n", out.StatusCode)
	return map[string]any{"queued": out.StatusCode}, nil
}

func main() { lambda.Start(handle) }
