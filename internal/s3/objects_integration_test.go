package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/edgeserverlessbox/esb/internal/s3/s3client"
)

var bucketSeq atomic.Int64

// newBucket creates a bucket with a unique name.
func newBucket(t *testing.T, c *s3.Client, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func put(t *testing.T, c *s3.Client, bucket, key string, body []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

func get(t *testing.T, c *s3.Client, in *s3.GetObjectInput) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("get %s/%s: %v", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

func TestIntegrationObjects(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "objects")

	// Bucket listing, HEAD and a second create of the same bucket.
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b}); err != nil {
		t.Fatalf("head bucket: %v", err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b}); apiCode(err) != "BucketAlreadyOwnedByYou" {
		t.Fatalf("second create: want BucketAlreadyOwnedByYou, got %v", err)
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range lb.Buckets {
		found = found || aws.ToString(x.Name) == b
	}
	if !found {
		t.Fatalf("ListBuckets lacks %s", b)
	}

	keys := map[string][]byte{
		"empty":    {},
		"one-byte": {'x'},
		"unicode/日本語/ファイル-ü-é.txt":       []byte("unicode key"),
		"with spaces/a b c.txt":          []byte("spaces"),
		"plus+sign/a+b=c&d.txt":          []byte("plus"),
		"emoji/🙂 face.bin":               []byte("emoji"),
		"percent%20literal/%2F.txt":      []byte("percent"),
		"deep/a/b/c/d/e/f/g/h/i/j/k.txt": bytes.Repeat([]byte("z"), 4096),
	}
	for k, v := range keys {
		put(t, c, b, k, v)
	}
	for k, v := range keys {
		got, out := get(t, c, &s3.GetObjectInput{Bucket: &b, Key: aws.String(k)})
		if !bytes.Equal(got, v) {
			t.Errorf("get %q: got %d bytes, want %d", k, len(got), len(v))
		}
		if aws.ToInt64(out.ContentLength) != int64(len(v)) {
			t.Errorf("get %q: Content-Length %d, want %d", k, aws.ToInt64(out.ContentLength), len(v))
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String(k)})
		if err != nil {
			t.Fatalf("head %q: %v", k, err)
		}
		if aws.ToInt64(h.ContentLength) != int64(len(v)) {
			t.Errorf("head %q: size %d, want %d", k, aws.ToInt64(h.ContentLength), len(v))
		}
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != len(keys) {
		t.Fatalf("ListObjectsV2: %d objects, want %d", len(list.Contents), len(keys))
	}
	for _, o := range list.Contents {
		if _, ok := keys[aws.ToString(o.Key)]; !ok {
			t.Errorf("ListObjectsV2 returned unknown key %q", aws.ToString(o.Key))
		}
	}
	// Delimiter listing.
	dl, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(dl.CommonPrefixes) != 6 || len(dl.Contents) != 2 {
		t.Errorf("delimiter listing: %d prefixes, %d objects; want 6 and 2", len(dl.CommonPrefixes), len(dl.Contents))
	}

	// Missing object and bucket.
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("nope")}); apiCode(err) != "NoSuchKey" {
		t.Errorf("missing key: want NoSuchKey, got %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("no-such-bucket-esb"), Key: aws.String("k")}); apiCode(err) != "NoSuchBucket" {
		t.Errorf("missing bucket: want NoSuchBucket, got %v", err)
	}

	// Delete, then the bucket is not empty until every key is gone.
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &b}); apiCode(err) != "BucketNotEmpty" {
		t.Errorf("delete non-empty bucket: want BucketNotEmpty, got %v", err)
	}
	for k := range keys {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String(k)}); err != nil {
			t.Fatalf("delete %q: %v", k, err)
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &b}); err != nil {
		t.Fatalf("delete bucket: %v", err)
	}
}

func TestIntegrationRangesAndConditions(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "ranges")
	body := []byte("0123456789abcdefghij")
	out := put(t, c, b, "r.txt", body)
	etag := aws.ToString(out.ETag)

	for _, tc := range []struct{ rng, want, contentRange string }{
		{"bytes=0-4", "01234", "bytes 0-4/20"},
		{"bytes=10-", "abcdefghij", "bytes 10-19/20"},
		{"bytes=-3", "hij", "bytes 17-19/20"},
		{"bytes=15-100", "fghij", "bytes 15-19/20"},
	} {
		got, o := get(t, c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("r.txt"), Range: aws.String(tc.rng)})
		if string(got) != tc.want || aws.ToString(o.ContentRange) != tc.contentRange {
			t.Errorf("range %s: got %q (%s), want %q (%s)", tc.rng, got, aws.ToString(o.ContentRange), tc.want, tc.contentRange)
		}
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("r.txt"), Range: aws.String("bytes=50-60")}); httpStatus(err) != 416 {
		t.Errorf("unsatisfiable range: want 416, got %v", err)
	}

	// If-Match / If-None-Match on GET and HEAD.
	if _, o := get(t, c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("r.txt"), IfMatch: &etag}); aws.ToString(o.ETag) != etag {
		t.Errorf("If-Match with the ETag: got ETag %s", aws.ToString(o.ETag))
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("r.txt"), IfMatch: aws.String(`"0000"`)}); httpStatus(err) != 412 {
		t.Errorf("If-Match mismatch: want 412, got %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("r.txt"), IfNoneMatch: &etag}); httpStatus(err) != 304 {
		t.Errorf("If-None-Match with the ETag: want 304, got %v", err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("r.txt"), IfMatch: aws.String(`"0000"`)}); httpStatus(err) != 412 {
		t.Errorf("HEAD If-Match mismatch: want 412, got %v", err)
	}
	// Conditional writes: If-None-Match: * refuses to overwrite, If-Match guards.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("r.txt"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")}); httpStatus(err) != 412 {
		t.Errorf("PUT If-None-Match * over an existing key: want 412, got %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("new.txt"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")}); err != nil {
		t.Errorf("PUT If-None-Match * on a new key: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("r.txt"), Body: strings.NewReader("y"), IfMatch: aws.String(`"0000"`)}); httpStatus(err) != 412 {
		t.Errorf("PUT If-Match mismatch: want 412, got %v", err)
	}

	// Copy, with metadata carried over and replaced.
	put2, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("src"), Body: bytes.NewReader(body), ContentType: aws.String("text/plain"), Metadata: map[string]string{"colour": "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	b2 := newBucket(t, c, "copy-dst")
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b2, Key: aws.String("dst"), CopySource: aws.String(b + "/src")})
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if aws.ToString(cp.CopyObjectResult.ETag) != aws.ToString(put2.ETag) {
		t.Errorf("copy ETag %s, want %s", aws.ToString(cp.CopyObjectResult.ETag), aws.ToString(put2.ETag))
	}
	got, o := get(t, c, &s3.GetObjectInput{Bucket: &b2, Key: aws.String("dst")})
	if !bytes.Equal(got, body) || o.Metadata["colour"] != "blue" || aws.ToString(o.ContentType) != "text/plain" {
		t.Errorf("copied object: %q meta %v type %s", got, o.Metadata, aws.ToString(o.ContentType))
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b2, Key: aws.String("dst2"), CopySource: aws.String(b + "/src"), MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"colour": "red"}}); err != nil {
		t.Fatalf("copy with REPLACE: %v", err)
	}
	if _, o := get(t, c, &s3.GetObjectInput{Bucket: &b2, Key: aws.String("dst2")}); o.Metadata["colour"] != "red" {
		t.Errorf("REPLACE metadata: %v", o.Metadata)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b2, Key: aws.String("dst3"), CopySource: aws.String(b + "/src"), CopySourceIfMatch: aws.String(`"0000"`)}); httpStatus(err) != 412 {
		t.Errorf("copy with x-amz-copy-source-if-match mismatch: want 412, got %v", err)
	}
}

func TestIntegrationMultipartAbortAndList(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "mpu")

	up1, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("a/one")})
	if err != nil {
		t.Fatal(err)
	}
	up2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("b/two")})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("p"), 5<<20)
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: aws.String("a/one"), UploadId: up1.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: aws.String("a/one"), UploadId: up1.UploadId, PartNumber: aws.Int32(2), Body: strings.NewReader("tail")}); err != nil {
		t.Fatal(err)
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	if len(lu.Uploads) != 2 {
		t.Fatalf("ListMultipartUploads: %d uploads, want 2", len(lu.Uploads))
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: aws.String("a/one"), UploadId: up1.UploadId})
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[0].Size) != 5<<20 || aws.ToInt64(lp.Parts[1].Size) != 4 {
		t.Fatalf("ListParts: %+v", lp.Parts)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String("b/two"), UploadId: up2.UploadId}); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: aws.String("b/two"), UploadId: up2.UploadId}); apiCode(err) != "NoSuchUpload" {
		t.Errorf("ListParts after abort: want NoSuchUpload, got %v", err)
	}
	lu, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	if len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].Key) != "a/one" {
		t.Fatalf("after abort: %+v", lu.Uploads)
	}
	// A part under 5 MiB that is not the last is refused at completion (S3's limit).
	small, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("small")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i := int32(1); i <= 2; i++ {
		o, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b, Key: aws.String("small"), UploadId: small.UploadId, PartNumber: aws.Int32(i), Body: strings.NewReader("tiny")})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: o.ETag, PartNumber: aws.Int32(i)})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("small"), UploadId: small.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); apiCode(err) != "EntityTooSmall" {
		t.Errorf("complete with a small middle part: want EntityTooSmall, got %v", err)
	}
	// Complete the first upload and read it back.
	var done []types.CompletedPart
	for _, p := range lp.Parts {
		done = append(done, types.CompletedPart{ETag: p.ETag, PartNumber: p.PartNumber})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("a/one"), UploadId: up1.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	got, o := get(t, c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("a/one")})
	if len(got) != 5<<20+4 || !strings.HasSuffix(aws.ToString(o.ETag), `-2"`) {
		t.Errorf("completed object: %d bytes, ETag %s", len(got), aws.ToString(o.ETag))
	}
}

// patternReader is a deterministic, seekable stream of n bytes that is never
// held in memory.
type patternReader struct{ n int64 }

func (p patternReader) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.n {
		return 0, io.EOF
	}
	if rem := p.n - off; int64(len(b)) > rem {
		b = b[:rem]
	}
	for i := range b {
		x := uint64(off + int64(i))
		b[i] = byte(x*2654435761>>13) ^ byte(x>>8)
	}
	return len(b), nil
}

func TestIntegrationMultipart1GiBStreamed(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "big")
	const total = int64(1 << 30)
	const partSize = int64(64 << 20)
	src := patternReader{n: total}

	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("1GiB.bin")})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	if _, err := io.Copy(want, io.NewSectionReader(src, 0, total)); err != nil {
		t.Fatal(err)
	}
	parts := make([]types.CompletedPart, total/partSize)
	var wg sync.WaitGroup
	errs := make(chan error, len(parts))
	sem := make(chan struct{}, 4)
	start := time.Now()
	for i := range parts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n := int32(i + 1)
			o, err := c.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: &b, Key: aws.String("1GiB.bin"), UploadId: up.UploadId, PartNumber: &n,
				Body: io.NewSectionReader(src, int64(i)*partSize, partSize), ContentLength: aws.Int64(partSize),
			}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
			if err != nil {
				errs <- fmt.Errorf("part %d: %w", n, err)
				return
			}
			parts[i] = types.CompletedPart{ETag: o.ETag, PartNumber: &n}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("1GiB.bin"), UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	upDur := time.Since(start)
	start = time.Now()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("1GiB.bin")})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n != total || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("read back %d bytes, sha256 match %v", n, bytes.Equal(h.Sum(nil), want.Sum(nil)))
	}
	t.Logf("1 GiB multipart: upload %v (%.0f MiB/s), download %v (%.0f MiB/s)", upDur.Round(time.Millisecond), 1024/upDur.Seconds(), time.Since(start).Round(time.Millisecond), 1024/time.Since(start).Seconds())
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("1GiB.bin")}); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationListObjectsV2Pagination(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "list")
	const n = 2500
	keys := make(chan string, n)
	for i := 0; i < n; i++ {
		keys <- fmt.Sprintf("dir%d/key-%05d", i%3, i)
	}
	close(keys)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("put: %v", err)
	}

	seen := map[string]bool{}
	pages := 0
	last := ""
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &b})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Contents) > 1000 {
			t.Fatalf("page of %d keys; S3 returns at most 1000", len(out.Contents))
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if k <= last {
				t.Fatalf("keys out of order: %q after %q", k, last)
			}
			last = k
			seen[k] = true
		}
	}
	if len(seen) != n || pages != 3 {
		t.Fatalf("paginated listing: %d keys in %d pages, want %d in 3", len(seen), pages, n)
	}
	// MaxKeys and StartAfter.
	small, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, MaxKeys: aws.Int32(7), StartAfter: aws.String("dir1/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(small.Contents) != 7 || !aws.ToBool(small.IsTruncated) || !strings.HasPrefix(aws.ToString(small.Contents[0].Key), "dir1/") {
		t.Fatalf("MaxKeys 7 StartAfter dir1/: %d keys truncated=%v first=%s", len(small.Contents), aws.ToBool(small.IsTruncated), aws.ToString(small.Contents[0].Key))
	}
	pre, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(pre.CommonPrefixes) != 3 {
		t.Fatalf("delimiter: %d common prefixes, want 3", len(pre.CommonPrefixes))
	}
}

func TestIntegrationPresignedURLs(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	b := newBucket(t, c, "presign")
	pc := s3.NewPresignClient(c)

	putReq, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("via presigned put.txt")}, s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, putReq.URL, strings.NewReader("presigned body"))
	for k, v := range putReq.SignedHeader {
		if !strings.EqualFold(k, "host") {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %s", resp.Status)
	}

	getReq, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("via presigned put.txt")}, s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	status, body := httpGet(t, getReq.URL)
	if status != 200 || body != "presigned body" {
		t.Fatalf("presigned GET: %d %q", status, body)
	}
	// Tampered: another key with the same signature.
	tampered := strings.Replace(getReq.URL, "via%20presigned", "via%20tampered", 1)
	if status, body := httpGet(t, tampered); status != 403 || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Errorf("tampered presigned URL: %d %s", status, body)
	}
	// Expired.
	short, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("via presigned put.txt")}, s3.WithPresignExpires(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if status, body := httpGet(t, short.URL); status != 403 || !strings.Contains(body, "AccessDenied") || !strings.Contains(body, "expired") {
		t.Errorf("expired presigned URL: %d %s", status, body)
	}
	// More than 7 days is refused, as by S3.
	long := strings.Replace(getReq.URL, "X-Amz-Expires=300", "X-Amz-Expires=604801", 1)
	if status, _ := httpGet(t, long); status != 400 && status != 403 {
		t.Errorf("X-Amz-Expires over 7 days: %d", status)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestIntegrationWrongCredentials(t *testing.T) {
	srv := sharedServer(t)
	ctx := ctxT(t)
	b := newBucket(t, srv.client(), "creds")
	wrongSecret := s3client.New(s3client.Config{Endpoint: srv.endpoint, AccessKey: testAccess, SecretKey: "not-the-secret"})
	if _, err := wrongSecret.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b}); apiCode(err) != "SignatureDoesNotMatch" || httpStatus(err) != 403 {
		t.Errorf("wrong secret: want 403 SignatureDoesNotMatch, got %v", err)
	}
	wrongKey := s3client.New(s3client.Config{Endpoint: srv.endpoint, AccessKey: "nobody", SecretKey: testSecret})
	if _, err := wrongKey.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("k"), Body: strings.NewReader("x")}); apiCode(err) != "InvalidAccessKeyId" || httpStatus(err) != 403 {
		t.Errorf("unknown access key: want 403 InvalidAccessKeyId, got %v", err)
	}
	if _, err := wrongSecret.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: &b}); apiCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret on lifecycle (esb's own front): want SignatureDoesNotMatch, got %v", err)
	}
	if status, _ := httpGet(t, srv.endpoint+"/"+b); status != 403 {
		t.Errorf("anonymous list: %d, want 403", status)
	}
	if status, _ := httpGet(t, srv.endpoint+"/"+b+"?lifecycle"); status != 403 {
		t.Errorf("anonymous lifecycle: %d, want 403", status)
	}
}

// hostClient addresses buckets virtual-host style under domain, dialling the
// server whatever the name resolves to.
func hostClient(srv *server, domain string) *s3.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, "127.0.0.1:"+srv.port)
	}}}
	return s3client.New(s3client.Config{Endpoint: "http://" + domain + ":" + srv.port, AccessKey: testAccess, SecretKey: testSecret, VirtualHost: true, HTTPClient: hc})
}

func TestIntegrationVirtualHostAddressing(t *testing.T) {
	srv := sharedServer(t)
	ctx := ctxT(t)
	for _, domain := range []string{"s3-storage", "localhost"} {
		t.Run(domain, func(t *testing.T) {
			c := hostClient(srv, domain)
			b := newBucket(t, srv.client(), "vhost")
			put(t, c, b, "dir/a b+c.txt", []byte("vhost"))
			got, _ := get(t, c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("dir/a b+c.txt")})
			if string(got) != "vhost" {
				t.Fatalf("virtual-host GET: %q", got)
			}
			list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
			if err != nil || len(list.Contents) != 1 {
				t.Fatalf("virtual-host list: %v %v", list, err)
			}
			// The same object is visible path style.
			got, _ = get(t, srv.client(), &s3.GetObjectInput{Bucket: &b, Key: aws.String("dir/a b+c.txt")})
			if string(got) != "vhost" {
				t.Fatalf("path-style GET of a virtual-host PUT: %q", got)
			}
			// esb's own sub-resources work virtual-host style too.
			if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: &b, LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("x"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}}}}); err != nil {
				t.Fatalf("virtual-host lifecycle: %v", err)
			}
			// Presigned URL in virtual-host style.
			pr, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("dir/a b+c.txt")})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(pr.URL, "http://"+b+"."+domain+":") {
				t.Fatalf("presigned URL is not virtual-host style: %s", pr.URL)
			}
			req, _ := http.NewRequest(http.MethodGet, pr.URL, nil)
			resp, err := c.Options().HTTPClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "vhost" {
				t.Fatalf("virtual-host presigned GET: %d %s", resp.StatusCode, body)
			}
		})
	}
}
