// Package provision applies a template's resources (resources.yml: DynamoDB
// tables and S3 buckets) to the services `esb up` runs or to external
// endpoints, idempotently, by calling the two provisioners
// (internal/dynamo/provision and internal/s3/provision).
package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	dprov "github.com/edgeserverlessbox/esb/internal/dynamo/provision"
	"github.com/edgeserverlessbox/esb/internal/manifest"
	sprov "github.com/edgeserverlessbox/esb/internal/s3/provision"
)

// Endpoints say where tables and buckets go and how to sign.
type Endpoints struct {
	// DynamoDB and S3 are the endpoint URLs (the embedded services on
	// loopback, or DYNAMODB_ENDPOINT / S3_ENDPOINT).
	DynamoDB, S3 string
	// Region, AccessKeyID and SecretAccessKey sign requests.
	Region                       string
	AccessKeyID, SecretAccessKey string
	// AccountID goes into the ARNs of notification targets.
	AccountID string
	// Logger receives one record per change (nil: discarded).
	Logger *slog.Logger
}

// Report says what provisioning did.
type Report struct {
	// Tables has one result per table, in template order.
	Tables []dprov.Result
	// Buckets are the bucket names provisioned.
	Buckets []string
	// Elapsed is the time the whole run took.
	Elapsed time.Duration
}

// ErrNeedsReset is wrapped when a table change needs `esb up --reset`.
var ErrNeedsReset = dprov.ErrNeedsReset

// Apply provisions every table, then every bucket, of res. It stops at the
// first error, which names the table or bucket and what to do.
func Apply(ctx context.Context, res *manifest.Resources, ep Endpoints) (Report, error) {
	start := time.Now()
	var rep Report
	if res == nil {
		return rep, nil
	}
	log := ep.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(res.Tables) > 0 {
		if ep.DynamoDB == "" {
			return rep, errors.New("the template declares DynamoDB tables but no DynamoDB endpoint is running (DYNAMODB_ENDPOINT)")
		}
		client := dprov.NewClient(dprov.Endpoint{URL: ep.DynamoDB, Region: ep.Region, AccessKeyID: ep.AccessKeyID, SecretAccessKey: ep.SecretAccessKey})
		results, err := dprov.Tables(ctx, client, res.Tables, dprov.Options{Logger: log})
		rep.Tables = results
		if err != nil {
			return rep, fmt.Errorf("provision tables at %s: %w", ep.DynamoDB, err)
		}
	}
	if len(res.Buckets) > 0 {
		if ep.S3 == "" {
			return rep, errors.New("the template declares S3 buckets but no S3 endpoint is running (S3_ENDPOINT)")
		}
		t := sprov.Target{Endpoint: ep.S3, AccessKey: ep.AccessKeyID, SecretKey: ep.SecretAccessKey, Region: ep.Region, AccountID: ep.AccountID, Logger: log}
		if err := sprov.Buckets(ctx, t, res.Buckets); err != nil {
			return rep, fmt.Errorf("provision buckets at %s: %w", ep.S3, err)
		}
		for _, b := range res.Buckets {
			rep.Buckets = append(rep.Buckets, b.Name)
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// Load reads resources.yml; a missing file means nothing to provision.
func Load(path string) (*manifest.Resources, error) {
	var res manifest.Resources
	if err := manifest.Load(path, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
