package gw

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/s3response"
	"golang.org/x/sys/unix"
)

// openTestStore opens versitygw's POSIX backend on a temporary directory, as
// Run does, and wraps it. posix.New changes the working directory, which
// t.Chdir restores after the test.
func openTestStore(t testing.TB) (*store, string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	root := filepath.Join(dir, bucketsDir)
	versions := filepath.Join(dir, versionsDir)
	for _, d := range []string{root, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := (meta.XattrMeta{}).Test(root); err != nil {
		t.Skipf("the temporary directory's file system has no user xattrs: %v", err)
	}
	be, err := posix.New(root, meta.XattrMeta{}, posix.PosixOpts{VersioningDir: versions, CopyObjectThreshold: MaxCopySize, ForceNoObjLockFile: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Shutdown)
	return newStore(be, root, meta.XattrMeta{}, true), root
}

func createBucket(t testing.TB, st *store, name string) {
	t.Helper()
	acl := []byte(`{"Owner":"tester","Grantees":[{"Permission":"FULL_CONTROL","Access":"tester","Type":"CanonicalUser"}]}`)
	if err := st.Posix.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name), CreateBucketConfiguration: &types.CreateBucketConfiguration{}}, acl); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// xattrs returns every user extended attribute of path.
func xattrs(t *testing.T, path string) map[string]string {
	t.Helper()
	sz, err := unix.Listxattr(path, nil)
	if err != nil {
		t.Fatalf("listxattr %s: %v", path, err)
	}
	buf := make([]byte, sz)
	sz, err = unix.Listxattr(path, buf)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		n, err := unix.Getxattr(path, name, v)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", path, name, err)
		}
		out[name] = string(v[:n])
	}
	return out
}

func putInput(bucket, key string, body []byte) s3response.PutObjectInput {
	// What versitygw's controller passes for a plain PutObject: pointers to
	// empty strings for absent headers.
	empty := func() *string { s := ""; return &s }
	return s3response.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ContentLength: aws.Int64(int64(len(body))),
		ContentType: empty(), ContentEncoding: empty(), ContentDisposition: empty(), ContentLanguage: empty(),
		CacheControl: empty(), Expires: empty(), WebsiteRedirectLocation: empty(), Tagging: empty(),
		Metadata: map[string]string{}, Body: bytes.NewReader(body),
	}
}

// The replaced PutObject must leave exactly what versitygw leaves: the same
// bytes, mode and extended attributes, and the same answer; and versitygw must
// read an object written by it as its own.
func TestStorePutObjectSameBytesOnDisk(t *testing.T) {
	st, root := openTestStore(t)
	ctx := context.Background()
	createBucket(t, st, "bkt")
	big := make([]byte, 5<<20+7)
	for i := range big {
		big[i] = byte(i*31 + i>>11)
	}
	cases := []struct {
		name string
		body []byte
		set  func(*s3response.PutObjectInput)
	}{
		{"empty", nil, nil},
		{"one byte", []byte{'x'}, nil},
		{"1 KiB with content type", bytes.Repeat([]byte("k"), 1024), func(p *s3response.PutObjectInput) { *p.ContentType = "text/plain" }},
		{"headers and metadata", []byte("hello"), func(p *s3response.PutObjectInput) {
			*p.ContentType, *p.ContentEncoding, *p.ContentDisposition = "application/json", "gzip", "attachment"
			*p.ContentLanguage, *p.CacheControl, *p.Expires = "de", "max-age=60", "Wed, 21 Oct 2037 07:28:00 GMT"
			p.Metadata = map[string]string{"owner": "ünïcode", "b": "2"}
		}},
		{"5 MiB pipelined", big, nil},
		{"exactly one buffer", big[:pipelineBufSize], nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours, theirs := putInput("bkt", "ours/"+c.name, c.body), putInput("bkt", "theirs/"+c.name, c.body)
			if c.set != nil {
				c.set(&ours)
				c.set(&theirs)
			}
			if !st.plainPut(ctx, ours) {
				t.Fatal("a plain PutObject did not take the fast path")
			}
			got, err := st.PutObject(ctx, ours)
			if err != nil {
				t.Fatalf("fast PutObject: %v", err)
			}
			want, err := st.Posix.PutObject(ctx, theirs)
			if err != nil {
				t.Fatalf("versitygw PutObject: %v", err)
			}
			if got.ETag != want.ETag || *got.ChecksumCRC64NVME != *want.ChecksumCRC64NVME || got.ChecksumType != want.ChecksumType || *got.Size != *want.Size {
				t.Fatalf("answer: fast %+v (crc %s), versitygw %+v (crc %s)", got, *got.ChecksumCRC64NVME, want, *want.ChecksumCRC64NVME)
			}
			op, tp := filepath.Join(root, "bkt", "ours", c.name), filepath.Join(root, "bkt", "theirs", c.name)
			ob, _ := os.ReadFile(op)
			tb, _ := os.ReadFile(tp)
			if !bytes.Equal(ob, c.body) || !bytes.Equal(tb, c.body) {
				t.Fatalf("object data differs: fast %d bytes, versitygw %d bytes, sent %d", len(ob), len(tb), len(c.body))
			}
			oi, _ := os.Stat(op)
			ti, _ := os.Stat(tp)
			if oi.Mode() != ti.Mode() {
				t.Fatalf("mode: fast %v, versitygw %v", oi.Mode(), ti.Mode())
			}
			ox, tx := xattrs(t, op), xattrs(t, tp)
			if len(ox) != len(tx) {
				t.Fatalf("xattrs: fast %q, versitygw %q", keys(ox), keys(tx))
			}
			for k, v := range tx {
				if ox[k] != v {
					t.Fatalf("xattr %s: fast %q, versitygw %q", k, ox[k], v)
				}
			}
			// versitygw reads the object written here as its own.
			h, err := st.Posix.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("ours/" + c.name), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatalf("versitygw HeadObject of the fast-written object: %v", err)
			}
			if *h.ETag != want.ETag || *h.ContentLength != int64(len(c.body)) || h.ChecksumCRC64NVME == nil || *h.ChecksumCRC64NVME != *want.ChecksumCRC64NVME {
				t.Fatalf("HeadObject: etag %s length %d crc %v; want %s %d %s", *h.ETag, *h.ContentLength, h.ChecksumCRC64NVME, want.ETag, len(c.body), *want.ChecksumCRC64NVME)
			}
			g, err := st.Posix.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("ours/" + c.name)})
			if err != nil {
				t.Fatalf("versitygw GetObject: %v", err)
			}
			data, err := io.ReadAll(g.Body)
			g.Body.Close()
			if err != nil || !bytes.Equal(data, c.body) {
				t.Fatalf("GetObject body: %d bytes, err %v", len(data), err)
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestStorePutObjectOverwrites(t *testing.T) {
	st, root := openTestStore(t)
	ctx := context.Background()
	createBucket(t, st, "bkt")
	for _, body := range []string{"first version", "second"} {
		in := putInput("bkt", "dir/obj", []byte(body))
		*in.ContentType = "text/" + body[:5]
		if _, err := st.PutObject(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(root, "bkt", "dir", "obj"))
	if string(b) != "second" {
		t.Fatalf("after overwrite: %q", b)
	}
	if ct := xattrs(t, filepath.Join(root, "bkt", "dir", "obj"))["user.content-type"]; ct != "text/secon" {
		t.Fatalf("content type after overwrite: %q", ct)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "bkt", "dir"))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries after an overwrite, want 1 (a temporary name left behind?)", len(ents))
	}
}

// Requests the fast path does not write exactly as versitygw would are
// versitygw's.
func TestStorePutObjectLeavesOtherCasesToVersitygw(t *testing.T) {
	st, _ := openTestStore(t)
	ctx := context.Background()
	createBucket(t, st, "bkt")
	createBucket(t, st, "versioned")
	if err := st.Posix.PutBucketVersioning(ctx, "versioned", types.BucketVersioningStatusEnabled); err != nil {
		t.Fatal(err)
	}
	star := "*"
	cases := map[string]func(*s3response.PutObjectInput){
		"If-None-Match":      func(p *s3response.PutObjectInput) { p.IfNoneMatch = &star },
		"If-Match":           func(p *s3response.PutObjectInput) { p.IfMatch = &star },
		"tagging":            func(p *s3response.PutObjectInput) { *p.Tagging = "a=b" },
		"client CRC32":       func(p *s3response.PutObjectInput) { p.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 },
		"client CRC64NVME":   func(p *s3response.PutObjectInput) { p.ChecksumCRC64NVME = aws.String("AAAAAAAAAAA=") },
		"object lock":        func(p *s3response.PutObjectInput) { p.ObjectLockMode = types.ObjectLockModeGovernance },
		"directory object":   func(p *s3response.PutObjectInput) { *p.Key = "dir/" },
		"versioned bucket":   func(p *s3response.PutObjectInput) { *p.Bucket = "versioned" },
		"missing bucket":     func(p *s3response.PutObjectInput) { *p.Bucket = "nosuch" },
		"dot-dot key":        func(p *s3response.PutObjectInput) { *p.Key = "../escape" },
		"unclean key":        func(p *s3response.PutObjectInput) { *p.Key = "a//b" },
		"no content length":  func(p *s3response.PutObjectInput) { p.ContentLength = nil },
		"legal hold":         func(p *s3response.PutObjectInput) { p.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn },
		"leading slash":      func(p *s3response.PutObjectInput) { *p.Key = "/abs" },
		"bucket with slash":  func(p *s3response.PutObjectInput) { *p.Bucket = "bkt/x" },
		"hidden bucket name": func(p *s3response.PutObjectInput) { *p.Bucket = ".sgwtmp" },
	}
	for name, set := range cases {
		in := putInput("bkt", "k", []byte("x"))
		set(&in)
		if st.plainPut(ctx, in) {
			t.Errorf("%s: took the fast path", name)
		}
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// A body that fails midway publishes nothing, on both copy paths.
func TestStorePutObjectBodyErrorPublishesNothing(t *testing.T) {
	st, root := openTestStore(t)
	ctx := context.Background()
	createBucket(t, st, "bkt")
	for _, size := range []int{1000, 3 << 20} {
		in := putInput("bkt", "broken", nil)
		in.ContentLength = aws.Int64(int64(size))
		in.Body = &failingReader{n: size / 2}
		if _, err := st.PutObject(ctx, in); err == nil || !strings.Contains(err.Error(), "client went away") {
			t.Fatalf("size %d: err %v, want the body's error", size, err)
		}
		if _, err := os.Stat(filepath.Join(root, "bkt", "broken")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("size %d: object visible after a failed upload (%v)", size, err)
		}
	}
}
