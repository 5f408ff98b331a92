// Command hello is the hello-go example function: it greets the caller of
// GET /hello and ANY /hello/{name} through API Gateway's proxy integration.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type greeting struct {
	Message   string `json:"message"`
	Method    string `json:"method"`
	Function  string `json:"function"`
	RequestID string `json:"requestId"`
}

func handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	name := req.PathParameters["name"]
	if name == "" {
		name = req.QueryStringParameters["name"]
	}
	if name == "" {
		name = "world"
	}
	g := greeting{Message: "Hello, " + name + "!", Method: req.HTTPMethod, Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		g.RequestID = lc.AwsRequestID
	}
	body, err := json.Marshal(g)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	return events.APIGatewayProxyResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}, nil
}

func main() {
	lambda.Start(handle)
}
