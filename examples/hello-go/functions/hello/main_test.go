package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestHandleGreetsByPathParameter(t *testing.T) {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	resp, err := handle(ctx, events.APIGatewayProxyRequest{HTTPMethod: "POST", PathParameters: map[string]string{"name": "edge"}})
	if err != nil {
		t.Fatal(err)
	}
	var g greeting
	if err := json.Unmarshal([]byte(resp.Body), &g); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	if resp.StatusCode != 200 || g.Message != "Hello, edge!" || g.Method != "POST" || g.RequestID != "req-1" {
		t.Fatalf("got %d %+v", resp.StatusCode, g)
	}
}

func TestHandleDefaultsToWorld(t *testing.T) {
	resp, err := handle(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	var g greeting
	if err := json.Unmarshal([]byte(resp.Body), &g); err != nil || g.Message != "Hello, world!" {
		t.Fatalf("got %q (%v)", resp.Body, err)
	}
}
