// Command files is the full-stack example's file store: GET /files lists the
// uploaded files, PUT /files/{name+} stores one, GET /files/{name+} returns it
// and DELETE /files/{name+} removes it, in the bucket named by BUCKET_NAME,
// through aws-sdk-go-v2. Objects go under uploads/, where the indexer
// function picks them up.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const prefix = "uploads/"

// objectStore is the part of the S3 client the handler uses.
type objectStore interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

type handler struct {
	s3     objectStore
	bucket string
}

type fileInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

func (h *handler) handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	name := req.PathParameters["name"]
	switch {
	case name == "" && req.HTTPMethod == http.MethodGet:
		return h.list(ctx)
	case name == "":
		return reply(http.StatusMethodNotAllowed, map[string]string{"message": req.HTTPMethod + " is not allowed on /files"})
	case req.HTTPMethod == http.MethodPut || req.HTTPMethod == http.MethodPost:
		body := []byte(req.Body)
		if req.IsBase64Encoded {
			var err error
			if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
				return reply(http.StatusBadRequest, map[string]string{"message": "the body is not valid base64"})
			}
		}
		ct := req.Headers["Content-Type"]
		if ct == "" {
			ct = req.Headers["content-type"]
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		_, err := h.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String(h.bucket),
			Key:         aws.String(prefix + name),
			Body:        bytes.NewReader(body),
			ContentType: aws.String(ct),
		})
		if err != nil {
			return events.APIGatewayProxyResponse{}, fmt.Errorf("put %s: %w", name, err)
		}
		return reply(http.StatusCreated, fileInfo{Name: name, Size: int64(len(body))})
	case req.HTTPMethod == http.MethodGet:
		return h.get(ctx, name)
	case req.HTTPMethod == http.MethodDelete:
		if _, err := h.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(prefix + name)}); err != nil {
			return events.APIGatewayProxyResponse{}, fmt.Errorf("delete %s: %w", name, err)
		}
		return reply(http.StatusOK, map[string]string{"deleted": name})
	}
	return reply(http.StatusMethodNotAllowed, map[string]string{"message": req.HTTPMethod + " is not allowed on /files/" + name})
}

func (h *handler) list(ctx context.Context) (events.APIGatewayProxyResponse, error) {
	files := []fileInfo{}
	p := s3.NewListObjectsV2Paginator(h.s3, &s3.ListObjectsV2Input{Bucket: aws.String(h.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return events.APIGatewayProxyResponse{}, fmt.Errorf("list files: %w", err)
		}
		for _, o := range page.Contents {
			files = append(files, fileInfo{Name: aws.ToString(o.Key)[len(prefix):], Size: aws.ToInt64(o.Size)})
		}
	}
	return reply(http.StatusOK, map[string]any{"files": files})
}

func (h *handler) get(ctx context.Context, name string) (events.APIGatewayProxyResponse, error) {
	out, err := h.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(prefix + name)})
	var missing *types.NoSuchKey
	if errors.As(err, &missing) {
		return reply(http.StatusNotFound, map[string]string{"message": "no file " + name})
	}
	if err != nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("get %s: %w", name, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("read %s: %w", name, err)
	}
	resp := events.APIGatewayProxyResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": aws.ToString(out.ContentType)},
	}
	if utf8.Valid(data) {
		resp.Body = string(data)
	} else {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(data), true
	}
	return resp, nil
}

func reply(status int, v any) (events.APIGatewayProxyResponse, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}, nil
}

func main() {
	// The S3 endpoint comes from AWS_ENDPOINT_URL_S3 (esb sets it); path-style
	// addressing works with every S3-compatible store and with AWS.
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "load AWS config:", err)
		os.Exit(1)
	}
	h := &handler{
		s3:     s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		bucket: os.Getenv("BUCKET_NAME"),
	}
	lambda.Start(h.handle)
}
