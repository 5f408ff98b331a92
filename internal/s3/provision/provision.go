// Package provision creates the template's S3 buckets (AWS::S3::Bucket) with their
// versioning, lifecycle rules, CORS rules and notification configuration,
// idempotently: running it again converges every bucket to the template. It
// speaks S3, so it provisions the embedded server or an external endpoint
// (S3_ENDPOINT: MinIO, RustFS, SeaweedFS, Ceph, AWS) alike.
package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/edgeserverlessbox/esb/internal/manifest"
	"github.com/edgeserverlessbox/esb/internal/s3/s3client"
)

// Target is the S3 endpoint to provision.
type Target struct {
	// Endpoint is the S3 API URL, e.g. "http://127.0.0.1:9000" or the value of
	// S3_ENDPOINT for an external engine.
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	// AccountID and Partition build the Lambda ARNs of notification targets
	// (default 000000000000 and aws).
	AccountID string
	// Logger receives one line per change.
	Logger *slog.Logger
}

// Buckets provisions every bucket of the template against t.
func Buckets(ctx context.Context, t Target, buckets []manifest.Bucket) error {
	if t.Logger == nil {
		t.Logger = slog.Default()
	}
	if t.Region == "" {
		t.Region = "us-east-1"
	}
	if t.AccountID == "" {
		t.AccountID = "000000000000"
	}
	c := s3client.New(s3client.Config{Endpoint: t.Endpoint, AccessKey: t.AccessKey, SecretKey: t.SecretKey, Region: t.Region})
	for _, b := range buckets {
		if err := Bucket(ctx, c, t, b); err != nil {
			return err
		}
	}
	return nil
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Bucket provisions one bucket.
func Bucket(ctx context.Context, c *s3.Client, t Target, b manifest.Bucket) error {
	if b.Name == "" {
		return fmt.Errorf("provision bucket %s: BucketName is empty in resources.yml (give the AWS::S3::Bucket a BucketName)", b.LogicalID)
	}
	name := b.Name
	in := &s3.CreateBucketInput{Bucket: &name}
	if t.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(t.Region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		switch code(err) {
		case "BucketAlreadyOwnedByYou":
		case "BucketAlreadyExists":
			return fmt.Errorf("provision bucket %s (%s): the name belongs to another account on %s; choose another BucketName", name, b.LogicalID, t.Endpoint)
		default:
			return fmt.Errorf("provision bucket %s (%s): create: %w", name, b.LogicalID, err)
		}
	} else {
		t.Logger.Info("s3 provision: created bucket", "bucket", name)
	}

	if b.Versioning != "" {
		st := types.BucketVersioningStatus(b.Versioning)
		if st != types.BucketVersioningStatusEnabled && st != types.BucketVersioningStatusSuspended {
			return fmt.Errorf("provision bucket %s (%s): VersioningConfiguration.Status %q: must be Enabled or Suspended", name, b.LogicalID, b.Versioning)
		}
		if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &name, VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
			return fmt.Errorf("provision bucket %s (%s): versioning: %w", name, b.LogicalID, err)
		}
	}

	if len(b.Lifecycle) > 0 {
		rules, err := lifecycleRules(b)
		if err != nil {
			return err
		}
		if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &name, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules}}); err != nil {
			return fmt.Errorf("provision bucket %s (%s): lifecycle: %w", name, b.LogicalID, err)
		}
	} else if _, err := c.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: &name}); err != nil && code(err) != "NoSuchLifecycleConfiguration" {
		return fmt.Errorf("provision bucket %s (%s): remove lifecycle: %w", name, b.LogicalID, err)
	}

	if len(b.CORS) > 0 {
		var rules []types.CORSRule
		for _, r := range b.CORS {
			cr := types.CORSRule{AllowedMethods: upper(r.AllowedMethods), AllowedOrigins: r.AllowedOrigins, AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposedHeaders}
			if r.ID != "" {
				cr.ID = aws.String(r.ID)
			}
			if r.MaxAge > 0 {
				cr.MaxAgeSeconds = aws.Int32(int32(r.MaxAge))
			}
			rules = append(rules, cr)
		}
		if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: &name, CORSConfiguration: &types.CORSConfiguration{CORSRules: rules}}); err != nil {
			return fmt.Errorf("provision bucket %s (%s): CORS: %w", name, b.LogicalID, err)
		}
	} else if _, err := c.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: &name}); err != nil && code(err) != "NoSuchCORSConfiguration" {
		return fmt.Errorf("provision bucket %s (%s): remove CORS: %w", name, b.LogicalID, err)
	}

	// Notifications are recorded for the later S3-trigger work; an engine that
	// refuses targets it does not know (most external ones) only gets a warning.
	nc := notificationConfiguration(t, b)
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: &name, NotificationConfiguration: nc}); err != nil {
		t.Logger.Warn("s3 provision: notification configuration not recorded", "bucket", name, "endpoint", t.Endpoint, "err", err)
	}
	t.Logger.Info("s3 provision: bucket ready", "bucket", name, "versioning", b.Versioning, "lifecycle_rules", len(b.Lifecycle), "cors_rules", len(b.CORS), "notifications", len(b.Notifications))
	return nil
}

func upper(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToUpper(s)
	}
	return out
}

func lifecycleRules(b manifest.Bucket) ([]types.LifecycleRule, error) {
	var rules []types.LifecycleRule
	for i, r := range b.Lifecycle {
		lr := types.LifecycleRule{Status: types.ExpirationStatus(r.Status)}
		if r.Status == "" {
			lr.Status = types.ExpirationStatusEnabled
		}
		if r.ID != "" {
			lr.ID = aws.String(r.ID)
		}
		f := &types.LifecycleRuleFilter{}
		switch {
		case len(r.Tags) == 0:
			f.Prefix = aws.String(r.Prefix)
		case len(r.Tags) == 1 && r.Prefix == "":
			for k, v := range r.Tags {
				f.Tag = &types.Tag{Key: aws.String(k), Value: aws.String(v)}
			}
		default:
			and := &types.LifecycleRuleAndOperator{Prefix: aws.String(r.Prefix)}
			for k, v := range r.Tags {
				and.Tags = append(and.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
			f.And = and
		}
		lr.Filter = f
		if r.ExpirationInDays > 0 || r.ExpirationDate != "" || r.ExpiredObjectDeleteMarker {
			x := &types.LifecycleExpiration{}
			switch {
			case r.ExpirationInDays > 0:
				x.Days = aws.Int32(int32(r.ExpirationInDays))
			case r.ExpirationDate != "":
				d, err := time.Parse(time.RFC3339, r.ExpirationDate)
				if err != nil {
					d, err = time.Parse("2006-01-02", r.ExpirationDate)
				}
				if err != nil {
					return nil, fmt.Errorf("provision bucket %s (%s): lifecycle rule %d: ExpirationDate %q: use an ISO 8601 date such as 2030-01-01", b.Name, b.LogicalID, i+1, r.ExpirationDate)
				}
				x.Date = aws.Time(d.UTC())
			default:
				x.ExpiredObjectDeleteMarker = aws.Bool(true)
			}
			lr.Expiration = x
		}
		if r.NoncurrentVersionExpirationInDays > 0 {
			lr.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(int32(r.NoncurrentVersionExpirationInDays))}
		}
		if r.AbortIncompleteMultipartUploadDays > 0 {
			lr.AbortIncompleteMultipartUpload = &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(int32(r.AbortIncompleteMultipartUploadDays))}
		}
		rules = append(rules, lr)
	}
	return rules, nil
}

func notificationConfiguration(t Target, b manifest.Bucket) *types.NotificationConfiguration {
	nc := &types.NotificationConfiguration{}
	for i, n := range b.Notifications {
		event := n.Event
		if event == "" {
			event = "s3:ObjectCreated:*"
		}
		var filter *types.NotificationConfigurationFilter
		if len(n.Filter) > 0 {
			key := &types.S3KeyFilter{}
			for _, fr := range n.Filter {
				key.FilterRules = append(key.FilterRules, types.FilterRule{Name: types.FilterRuleName(strings.ToLower(fr.Name)), Value: aws.String(fr.Value)})
			}
			filter = &types.NotificationConfigurationFilter{Key: key}
		}
		id := aws.String(fmt.Sprintf("%s-%d", b.LogicalID, i+1))
		events := []types.Event{types.Event(event)}
		switch n.Type {
		case "queue":
			nc.QueueConfigurations = append(nc.QueueConfigurations, types.QueueConfiguration{Id: id, QueueArn: aws.String(n.Target), Events: events, Filter: filter})
		case "topic":
			nc.TopicConfigurations = append(nc.TopicConfigurations, types.TopicConfiguration{Id: id, TopicArn: aws.String(n.Target), Events: events, Filter: filter})
		case "eventbridge":
			nc.EventBridgeConfiguration = &types.EventBridgeConfiguration{}
		default:
			arn := n.Target
			if arn == "" {
				arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", t.Region, t.AccountID, n.Function)
			}
			nc.LambdaFunctionConfigurations = append(nc.LambdaFunctionConfigurations, types.LambdaFunctionConfiguration{Id: id, LambdaFunctionArn: aws.String(arn), Events: events, Filter: filter})
		}
	}
	return nc
}
