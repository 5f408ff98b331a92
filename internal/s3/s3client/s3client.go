// Package s3client builds AWS SDK for Go v2 S3 clients for esb's own use (the
// console, the provisioner, the lifecycle expirer, tests and benchmarks) against
// the embedded server or an external S3-compatible endpoint.
package s3client

import (
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Config names an endpoint and the credentials to sign for it.
type Config struct {
	// Endpoint is the base URL, e.g. "http://127.0.0.1:9000".
	Endpoint  string
	AccessKey string
	SecretKey string
	// Region defaults to us-east-1.
	Region string
	// VirtualHost addresses buckets as <bucket>.<endpoint host>; the default is
	// path style, which every S3-compatible engine accepts.
	VirtualHost bool
	// HTTPClient overrides the pooled client New makes.
	HTTPClient *http.Client
}

// NewHTTPClient returns a keep-alive client sized for many parallel requests
// to one host.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// New returns an S3 client for cfg. Checksums are computed only where S3
// requires them, so plain HTTP endpoints accept streamed bodies.
func New(cfg Config) *s3.Client {
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewHTTPClient()
	}
	return s3.New(s3.Options{
		Region:                     region,
		BaseEndpoint:               aws.String(cfg.Endpoint),
		Credentials:                credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		UsePathStyle:               !cfg.VirtualHost,
		HTTPClient:                 hc,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}
