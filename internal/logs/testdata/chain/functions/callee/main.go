// Command callee logs what it got, as text and as a JSON line.
package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	N int `json:"n"`
}

func handle(ctx context.Context, ev event) (string, error) {
	fmt.Printf("callee got n=%d\n", ev.N)
	fmt.Printf(`{"level":"warn","message":"callee structured n=%d","n":%d}`+"\n", ev.N, ev.N)
	return "done", nil
}

func main() { lambda.Start(handle) }
