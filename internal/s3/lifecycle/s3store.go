package lifecycle

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Store is a Store that speaks S3 through the AWS SDK, so the expirer works
// against the embedded server (over loopback) or any S3-compatible endpoint.
type S3Store struct {
	Client *s3.Client
}

var _ Store = S3Store{}

// Buckets lists every bucket.
func (s S3Store) Buckets(ctx context.Context) ([]string, error) {
	var names []string
	p := s3.NewListBucketsPaginator(s.Client, &s3.ListBucketsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
	}
	return names, nil
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Lifecycle reads a bucket's configuration with GetBucketLifecycleConfiguration.
func (s S3Store) Lifecycle(ctx context.Context, bucket string) (*Configuration, error) {
	out, err := s.Client.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &bucket})
	if err != nil {
		if c := errorCode(err); c == "NoSuchLifecycleConfiguration" || c == "NoSuchBucket" {
			return nil, ErrNoConfiguration
		}
		return nil, err
	}
	return FromSDK(out.Rules), nil
}

// FromSDK converts the SDK's rules to a Configuration.
func FromSDK(rules []types.LifecycleRule) *Configuration {
	ptrInt := func(v *int32) *int {
		if v == nil {
			return nil
		}
		i := int(*v)
		return &i
	}
	c := &Configuration{}
	for _, sr := range rules {
		r := Rule{ID: aws.ToString(sr.ID), Status: string(sr.Status), Prefix: sr.Prefix}
		if f := sr.Filter; f != nil {
			r.Filter = &Filter{Prefix: f.Prefix, ObjectSizeGreaterThan: f.ObjectSizeGreaterThan, ObjectSizeLessThan: f.ObjectSizeLessThan}
			if f.Tag != nil {
				r.Filter.Tag = &Tag{Key: aws.ToString(f.Tag.Key), Value: aws.ToString(f.Tag.Value)}
			}
			if a := f.And; a != nil {
				and := &And{Prefix: a.Prefix, ObjectSizeGreaterThan: a.ObjectSizeGreaterThan, ObjectSizeLessThan: a.ObjectSizeLessThan}
				for _, t := range a.Tags {
					and.Tags = append(and.Tags, Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
				}
				r.Filter.And = and
			}
		}
		if x := sr.Expiration; x != nil {
			r.Expiration = &Expiration{Days: ptrInt(x.Days), ExpiredObjectDeleteMarker: x.ExpiredObjectDeleteMarker}
			if x.Date != nil {
				d := x.Date.UTC().Format(time.RFC3339)
				r.Expiration.Date = &d
			}
		}
		if x := sr.NoncurrentVersionExpiration; x != nil {
			r.NoncurrentVersionExpiration = &NoncurrentVersionExpiration{NoncurrentDays: ptrInt(x.NoncurrentDays), NewerNoncurrentVersions: ptrInt(x.NewerNoncurrentVersions)}
		}
		if x := sr.AbortIncompleteMultipartUpload; x != nil {
			r.AbortIncompleteMultipartUpload = &AbortIncompleteMultipartUpload{DaysAfterInitiation: ptrInt(x.DaysAfterInitiation)}
		}
		c.Rules = append(c.Rules, r)
	}
	return c
}

// Versioning returns the bucket's versioning status.
func (s S3Store) Versioning(ctx context.Context, bucket string) (string, error) {
	out, err := s.Client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &bucket})
	if err != nil {
		return "", err
	}
	return string(out.Status), nil
}

// ListObjects pages through ListObjectsV2.
func (s S3Store) ListObjects(ctx context.Context, bucket, prefix string, fn func(Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range out.Contents {
			if err := fn(Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListVersions pages through ListObjectVersions; versions and delete markers of
// one key are delivered together.
func (s S3Store) ListVersions(ctx context.Context, bucket, prefix string, fn func(Version) error) error {
	in := &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &prefix}
	for {
		out, err := s.Client.ListObjectVersions(ctx, in)
		if err != nil {
			return err
		}
		var all []Version
		for _, v := range out.Versions {
			all = append(all, Version{Key: aws.ToString(v.Key), VersionID: aws.ToString(v.VersionId), IsLatest: aws.ToBool(v.IsLatest), Size: aws.ToInt64(v.Size), LastModified: aws.ToTime(v.LastModified)})
		}
		for _, m := range out.DeleteMarkers {
			all = append(all, Version{Key: aws.ToString(m.Key), VersionID: aws.ToString(m.VersionId), IsLatest: aws.ToBool(m.IsLatest), IsDeleteMarker: true, LastModified: aws.ToTime(m.LastModified)})
		}
		sortVersions(all)
		for _, v := range all {
			if err := fn(v); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

// sortVersions orders by key, then newest first.
func sortVersions(vs []Version) {
	sort.SliceStable(vs, func(i, j int) bool { return versionLess(vs[i], vs[j]) })
}

func versionLess(a, b Version) bool {
	if a.Key != b.Key {
		return a.Key < b.Key
	}
	return a.LastModified.After(b.LastModified)
}

// ListUploads pages through ListMultipartUploads.
func (s S3Store) ListUploads(ctx context.Context, bucket, prefix string, fn func(Upload) error) error {
	in := &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix}
	for {
		out, err := s.Client.ListMultipartUploads(ctx, in)
		if err != nil {
			return err
		}
		for _, u := range out.Uploads {
			if err := fn(Upload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)}); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// ObjectTags reads the current version's tag set.
func (s S3Store) ObjectTags(ctx context.Context, bucket, key string) (map[string]string, error) {
	out, err := s.Client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(out.TagSet))
	for _, t := range out.TagSet {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m, nil
}

// DeleteObject deletes the current version.
func (s S3Store) DeleteObject(ctx context.Context, bucket, key string) error {
	_, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
	return err
}

// DeleteVersion deletes one version permanently.
func (s S3Store) DeleteVersion(ctx context.Context, bucket, key, versionID string) error {
	_, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key, VersionId: &versionID})
	return err
}

// AbortUpload aborts one multipart upload; one already gone is not an error.
func (s S3Store) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	_, err := s.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: &uploadID})
	if errorCode(err) == "NoSuchUpload" {
		return nil
	}
	return err
}
