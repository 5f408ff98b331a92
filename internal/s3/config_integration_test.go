package s3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/edgeserverlessbox/esb/internal/manifest"
	"github.com/edgeserverlessbox/esb/internal/s3/lifecycle"
	"github.com/edgeserverlessbox/esb/internal/s3/provision"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func exists(t *testing.T, c *s3.Client, bucket, key string) bool {
	t.Helper()
	_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil {
		return true
	}
	if httpStatus(err) == 404 {
		return false
	}
	t.Fatalf("head %s/%s: %v", bucket, key, err)
	return false
}

func TestIntegrationLifecycleConfigurationAPI(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "lc-api")

	if _, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b}); apiCode(err) != "NoSuchLifecycleConfiguration" || httpStatus(err) != 404 {
		t.Fatalf("no configuration yet: want 404 NoSuchLifecycleConfiguration, got %v", err)
	}
	rules := []types.LifecycleRule{
		{ID: aws.String("logs"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("logs/")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(7)}},
		{ID: aws.String("tagged"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{Prefix: aws.String("tmp/"), Tags: []types.Tag{{Key: aws.String("class"), Value: aws.String("scratch")}}}}, Expiration: &types.LifecycleExpiration{Date: aws.Time(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}},
		{ID: aws.String("mpu"), Status: types.ExpirationStatusDisabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(2)}},
	}
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules}}); err != nil {
		t.Fatalf("put lifecycle: %v", err)
	}
	got, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b})
	if err != nil {
		t.Fatalf("get lifecycle: %v", err)
	}
	if len(got.Rules) != 3 || aws.ToInt32(got.Rules[0].Expiration.Days) != 7 || aws.ToString(got.Rules[0].Filter.Prefix) != "logs/" ||
		!aws.ToTime(got.Rules[1].Expiration.Date).Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) || len(got.Rules[1].Filter.And.Tags) != 1 ||
		got.Rules[2].Status != types.ExpirationStatusDisabled || aws.ToInt32(got.Rules[2].AbortIncompleteMultipartUpload.DaysAfterInitiation) != 2 {
		t.Fatalf("lifecycle round trip: %+v", got.Rules)
	}

	// Invalid configurations are refused as S3 refuses them.
	for name, tc := range map[string]struct {
		rule types.LifecycleRule
		code string
	}{
		"zero days":      {types.LifecycleRule{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(0)}}, "InvalidArgument"},
		"no action":      {types.LifecycleRule{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}}, "InvalidRequest"},
		"date not 00:00": {types.LifecycleRule{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Date: aws.Time(time.Date(2030, 1, 1, 5, 0, 0, 0, time.UTC))}}, "InvalidArgument"},
		"abort with tag": {types.LifecycleRule{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("a"), Value: aws.String("b")}}, AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}}, "InvalidRequest"},
	} {
		_, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{tc.rule}}})
		if apiCode(err) != tc.code || httpStatus(err) != 400 {
			t.Errorf("%s: want 400 %s, got %v", name, tc.code, err)
		}
	}
	// A refused configuration leaves the stored one in place.
	if got, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b}); err != nil || len(got.Rules) != 3 {
		t.Fatalf("after refused puts: %v %v", got, err)
	}
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("no-such-bucket-esb"), LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules}}); apiCode(err) != "NoSuchBucket" {
		t.Errorf("lifecycle on a missing bucket: want NoSuchBucket, got %v", err)
	}
	if _, err := c.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: &b}); err != nil {
		t.Fatalf("delete lifecycle: %v", err)
	}
	if _, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b}); apiCode(err) != "NoSuchLifecycleConfiguration" {
		t.Fatalf("after delete: want NoSuchLifecycleConfiguration, got %v", err)
	}
	// A deleted and re-created bucket does not inherit the old rules.
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules[:1]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &b}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b}); apiCode(err) != "NoSuchLifecycleConfiguration" {
		t.Fatalf("re-created bucket: want NoSuchLifecycleConfiguration, got %v", err)
	}
}

func TestIntegrationLifecycleExpiryFakeClock(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "lc-expiry")
	v := newBucket(t, c, "lc-versions")

	put(t, c, b, "logs/old.log", []byte("old"))
	put(t, c, b, "keep/data.bin", []byte("keep"))
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("tmp/scratch"), Body: strings.NewReader("s"), Tagging: aws.String("class=scratch")}); err != nil {
		t.Fatal(err)
	}
	put(t, c, b, "tmp/untagged", []byte("u"))
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("uploads/unfinished")})
	if err != nil {
		t.Fatal(err)
	}
	rules := []types.LifecycleRule{
		{ID: aws.String("logs-7d"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("logs/")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(7)}},
		{ID: aws.String("scratch-1d"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{Prefix: aws.String("tmp/"), Tags: []types.Tag{{Key: aws.String("class"), Value: aws.String("scratch")}}}}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
		{ID: aws.String("mpu-2d"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("uploads/")}, AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(2)}},
		{ID: aws.String("disabled"), Status: types.ExpirationStatusDisabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("keep/")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
	}
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules}}); err != nil {
		t.Fatal(err)
	}

	// Versioned bucket: two versions of one key and a deleted key.
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &v, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
	put(t, c, v, "doc", []byte("v1"))
	time.Sleep(1100 * time.Millisecond) // distinct LastModified seconds
	put(t, c, v, "doc", []byte("v2"))
	put(t, c, v, "gone", []byte("g1"))
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &v, Key: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &v, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
		{ID: aws.String("noncurrent-1d"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}},
		{ID: aws.String("markers"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
	}}}); err != nil {
		t.Fatal(err)
	}

	var logBuf bytes.Buffer
	clock := &fakeClock{now: time.Now()}
	exp := &lifecycle.Expirer{Store: lifecycle.S3Store{Client: c}, Clock: clock, Log: slog.New(slog.NewTextHandler(&logBuf, nil))}
	run := func() lifecycle.Result {
		t.Helper()
		res, err := exp.RunOnce(ctx)
		if err != nil {
			t.Fatalf("expirer: %v", err)
		}
		return res
	}
	// Now: nothing is due.
	if res := run(); res.Expired+res.UploadsAborted+res.NoncurrentGone+res.MarkersRemoved != 0 {
		t.Fatalf("nothing due yet, but %+v", res)
	}
	// +3 days: the tagged scratch object, the upload and the noncurrent versions go.
	clock.Set(time.Now().Add(3 * 24 * time.Hour))
	run()
	if exists(t, c, b, "tmp/scratch") || !exists(t, c, b, "tmp/untagged") || !exists(t, c, b, "logs/old.log") || !exists(t, c, b, "keep/data.bin") {
		t.Fatal("after 3 days: only tmp/scratch should be gone")
	}
	if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: aws.String("uploads/unfinished"), UploadId: up.UploadId}); apiCode(err) != "NoSuchUpload" {
		t.Fatalf("incomplete upload after 3 days: want NoSuchUpload, got %v", err)
	}
	versions, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &v})
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.Versions) != 1 || aws.ToString(versions.Versions[0].Key) != "doc" || len(versions.DeleteMarkers) != 0 {
		t.Fatalf("versioned bucket after 3 days: %d versions, %d markers; want only doc's current version", len(versions.Versions), len(versions.DeleteMarkers))
	}
	got, _ := get(t, c, &s3.GetObjectInput{Bucket: &v, Key: aws.String("doc")})
	if string(got) != "v2" {
		t.Fatalf("current version after expiry: %q", got)
	}
	// +8 days: logs/old.log expires; the disabled rule never acts.
	clock.Set(time.Now().Add(8 * 24 * time.Hour))
	run()
	if exists(t, c, b, "logs/old.log") || !exists(t, c, b, "keep/data.bin") || !exists(t, c, b, "tmp/untagged") {
		t.Fatal("after 8 days: logs/old.log should be gone, keep/ and tmp/untagged kept")
	}
	for _, want := range []string{"expired object", "logs/old.log", "aborted incomplete multipart upload", "expired noncurrent version", "removed expired object delete marker"} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("expirer log lacks %q:\n%s", want, logBuf.String())
		}
	}
}

func TestIntegrationNotificationRecorded(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "notify")
	got, err := c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: &b})
	if err != nil || len(got.LambdaFunctionConfigurations) != 0 {
		t.Fatalf("empty notification configuration: %v %v", got, err)
	}
	nc := &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{{
		Id: aws.String("thumbs"), LambdaFunctionArn: aws.String("arn:aws:lambda:us-east-1:000000000000:function:thumbnail"),
		Events: []types.Event{"s3:ObjectCreated:*"},
		Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: types.FilterRuleNamePrefix, Value: aws.String("images/")}, {Name: types.FilterRuleNameSuffix, Value: aws.String(".jpg")}}}},
	}}}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: &b, NotificationConfiguration: nc}); err != nil {
		t.Fatalf("put notification: %v", err)
	}
	got, err = c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.LambdaFunctionConfigurations) != 1 || aws.ToString(got.LambdaFunctionConfigurations[0].LambdaFunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:thumbnail" ||
		len(got.LambdaFunctionConfigurations[0].Filter.Key.FilterRules) != 2 {
		t.Fatalf("notification round trip: %+v", got.LambdaFunctionConfigurations)
	}
	bad := &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{{LambdaFunctionArn: aws.String("arn:x"), Events: []types.Event{"ObjectCreated"}}}}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: &b, NotificationConfiguration: bad}); apiCode(err) != "InvalidArgument" {
		t.Errorf("bad event name: want InvalidArgument, got %v", err)
	}
}

func TestIntegrationCORS(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "cors")
	put(t, c, b, "page.txt", []byte("hi"))
	if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: &b, CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
		AllowedOrigins: []string{"http://app.example"}, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: aws.Int32(600),
	}}}}); err != nil {
		t.Fatalf("put CORS: %v", err)
	}
	req, _ := http.NewRequest(http.MethodOptions, srv.endpoint+"/"+b+"/upload.bin", nil)
	req.Header.Set("Origin", "http://app.example")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Fatalf("preflight: %s %v", resp.Status, resp.Header)
	}
	req.Header.Set("Origin", "http://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %s %v", resp.Status, resp.Header)
	}
}

func TestIntegrationKeyTooLong(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "limits")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String(strings.Repeat("k", 1025)), Body: strings.NewReader("x")}); apiCode(err) != "KeyTooLongError" {
		t.Errorf("1025-byte key: want KeyTooLongError, got %v", err)
	}
	// 1024 bytes is S3's limit. On the POSIX backend each segment between
	// slashes is a file name, at most 255 bytes (documented in docs/s3.md).
	seg := strings.Repeat("k", 250) + "/"
	key := strings.Repeat(seg, 4) + strings.Repeat("z", 1024-4*len(seg))
	put(t, c, b, key, []byte("x"))
	if got, _ := get(t, c, &s3.GetObjectInput{Bucket: &b, Key: &key}); string(got) != "x" {
		t.Fatalf("1024-byte key: %q", got)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String(strings.Repeat("s", 256)), Body: strings.NewReader("x")}); apiCode(err) != "KeyTooLongError" {
		t.Errorf("256-byte segment: want KeyTooLongError, got %v", err)
	}
}

func TestIntegrationKill9KeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "durable")
	body := bytes.Repeat([]byte("durable "), 100000)
	put(t, c, b, "acknowledged.bin", body)
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("r"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(30)}}}}}); err != nil {
		t.Fatal(err)
	}
	srv.kill9(t)

	again := startServer(t, dir)
	c = again.client()
	got, _ := get(t, c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("acknowledged.bin")})
	if !bytes.Equal(got, body) {
		t.Fatalf("after kill -9: got %d bytes, want %d", len(got), len(body))
	}
	lc, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b})
	if err != nil || len(lc.Rules) != 1 {
		t.Fatalf("lifecycle after kill -9: %v %v", lc, err)
	}
}

func TestIntegrationAWSCLI(t *testing.T) {
	srv := sharedServer(t)
	aws := "/usr/bin/aws"
	if _, err := os.Stat(aws); err != nil {
		t.Fatalf("Debian's awscli is needed (apt-get install awscli): %v", err)
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(aws, append([]string{"--endpoint-url", srv.endpoint, "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testAccess, "AWS_SECRET_ACCESS_KEY="+testSecret, "AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	bucket := "cli-" + strings.ToLower(strings.ReplaceAll(time.Now().Format("150405.000"), ".", ""))
	run("s3", "mb", "s3://"+bucket)
	src := filepath.Join(dir, "hello world+1.txt")
	if err := os.WriteFile(src, []byte("hello from the aws cli"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("s3", "cp", src, "s3://"+bucket+"/dir/hello world+1.txt")
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, bytes.Repeat([]byte{7}, 20<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	run("s3", "cp", big, "s3://"+bucket+"/big.bin") // multipart (8 MiB parts)
	ls := run("s3", "ls", "--recursive", "s3://"+bucket)
	if !strings.Contains(ls, "dir/hello world+1.txt") || !strings.Contains(ls, "big.bin") {
		t.Fatalf("aws s3 ls:\n%s", ls)
	}
	dst := filepath.Join(dir, "back.txt")
	run("s3", "cp", "s3://"+bucket+"/dir/hello world+1.txt", dst)
	if b, _ := os.ReadFile(dst); string(b) != "hello from the aws cli" {
		t.Fatalf("downloaded %q", b)
	}
	head := run("s3api", "head-object", "--bucket", bucket, "--key", "big.bin")
	var h struct {
		ContentLength int64
		ETag          string
	}
	if err := json.Unmarshal([]byte(head), &h); err != nil || h.ContentLength != 20<<20 || !strings.Contains(h.ETag, "-") {
		t.Fatalf("head-object big.bin: %s (%v)", head, err)
	}
	lc := filepath.Join(dir, "lc.json")
	os.WriteFile(lc, []byte(`{"Rules":[{"ID":"cli","Status":"Enabled","Filter":{"Prefix":"dir/"},"Expiration":{"Days":3}}]}`), 0o644)
	run("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket, "--lifecycle-configuration", "file://"+lc)
	if out := run("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket); !strings.Contains(out, `"Days": 3`) {
		t.Fatalf("get-bucket-lifecycle-configuration:\n%s", out)
	}
	url := strings.TrimSpace(run("s3", "presign", "s3://"+bucket+"/dir/hello world+1.txt", "--expires-in", "60"))
	if status, body := httpGet(t, url); status != 200 || body != "hello from the aws cli" {
		t.Fatalf("aws s3 presign URL: %d %q", status, body)
	}
	run("s3", "rm", "--recursive", "s3://"+bucket)
	run("s3", "rb", "s3://"+bucket)
}

func TestIntegrationProvisionIdempotent(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	name := "prov-" + strings.ToLower(strings.ReplaceAll(time.Now().Format("150405.000"), ".", ""))
	buckets := []manifest.Bucket{{
		LogicalID:  "MyBucket",
		Name:       name,
		Versioning: "Enabled",
		Lifecycle: []manifest.LifecycleRule{
			{ID: "expire", Status: "Enabled", ExpirationInDays: 7},
			{ID: "tmp", Status: "Enabled", Prefix: "tmp/", Tags: map[string]string{"k": "v"}, ExpirationInDays: 1},
			{ID: "mpu", Status: "Enabled", AbortIncompleteMultipartUploadDays: 3, NoncurrentVersionExpirationInDays: 10},
		},
		CORS:          []manifest.CORSRule{{AllowedMethods: []string{"get", "put"}, AllowedOrigins: []string{"*"}, MaxAge: 300}},
		Notifications: []manifest.Notification{{Type: "lambda", Event: "s3:ObjectCreated:*", Function: "thumbs", Filter: []manifest.FilterRule{{Name: "suffix", Value: ".jpg"}}}},
	}}
	target := provision.Target{Endpoint: srv.endpoint, AccessKey: testAccess, SecretKey: testSecret}
	for i := 0; i < 2; i++ {
		if err := provision.Buckets(ctx, target, buckets); err != nil {
			t.Fatalf("provision run %d: %v", i+1, err)
		}
	}
	lc, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &name})
	if err != nil || len(lc.Rules) != 3 {
		t.Fatalf("provisioned lifecycle: %v %v", lc, err)
	}
	ver, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &name})
	if err != nil || ver.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("provisioned versioning: %v %v", ver, err)
	}
	cors, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: &name})
	if err != nil || len(cors.CORSRules) != 1 || cors.CORSRules[0].AllowedMethods[1] != "PUT" {
		t.Fatalf("provisioned CORS: %v %v", cors, err)
	}
	nc, err := c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: &name})
	if err != nil || len(nc.LambdaFunctionConfigurations) != 1 || aws.ToString(nc.LambdaFunctionConfigurations[0].LambdaFunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:thumbs" {
		t.Fatalf("provisioned notifications: %+v %v", nc, err)
	}
	// Removing rules from the template removes them from the bucket.
	buckets[0].Lifecycle, buckets[0].CORS = nil, nil
	if err := provision.Buckets(ctx, target, buckets); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &name}); apiCode(err) != "NoSuchLifecycleConfiguration" {
		t.Fatalf("lifecycle after removal from the template: %v", err)
	}
	if _, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: &name}); apiCode(err) != "NoSuchCORSConfiguration" {
		t.Fatalf("CORS after removal from the template: %v", err)
	}
	// A bad template value is a clear error.
	buckets[0].Versioning = "On"
	if err := provision.Buckets(ctx, target, buckets); err == nil || !strings.Contains(err.Error(), "Enabled or Suspended") {
		t.Fatalf("bad versioning: %v", err)
	}
}
