package bucketconf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreLifecycleRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := s.Get(ctx, "b", Lifecycle); !errors.As(err, &e) || e.Code != "NoSuchLifecycleConfiguration" || e.Status != 404 {
		t.Fatalf("missing lifecycle: %v", err)
	}
	doc := `<LifecycleConfiguration><Rule><ID>r</ID><Status>Enabled</Status><Filter><Prefix>a/</Prefix></Filter><Expiration><Days>3</Days></Expiration></Rule></LifecycleConfiguration>`
	if err := s.Put(ctx, "b", Lifecycle, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	// A second store over the same directory (a restart) sees it.
	s2, _ := Open(dir)
	got, err := s2.Get(ctx, "b", Lifecycle)
	if err != nil || !strings.Contains(string(got), "<Days>3</Days>") || !strings.Contains(string(got), `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`) {
		t.Fatalf("after reopen: %s %v", got, err)
	}
	if err := s.Put(ctx, "b", Lifecycle, []byte(`<LifecycleConfiguration></LifecycleConfiguration>`)); !errors.As(err, new(interface{ S3Code() string })) {
		t.Fatalf("invalid document accepted: %v", err)
	}
	if got2, _ := s.Get(ctx, "b", Lifecycle); string(got2) != string(got) {
		t.Fatal("a refused Put changed the stored document")
	}
	if err := s.Delete(ctx, "b", Lifecycle); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "b", Lifecycle); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "b")); len(entries) != 0 {
		t.Fatalf("leftover files: %v", entries)
	}
}

func TestStoreNotificationsAndDeleteBucket(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	empty, err := s.Get(ctx, "b", Notification)
	if err != nil || !strings.Contains(string(empty), "NotificationConfiguration") {
		t.Fatalf("empty notification configuration: %s %v", empty, err)
	}
	doc := `<NotificationConfiguration><CloudFunctionConfiguration><Id>x</Id><CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:f</CloudFunction><Event>s3:ObjectCreated:*</Event>
<Filter><S3Key><FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration></NotificationConfiguration>`
	if err := s.Put(ctx, "b", Notification, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "b", Notification)
	if !strings.Contains(string(got), "function:f") || !strings.Contains(string(got), "<Value>.jpg</Value>") {
		t.Fatalf("stored: %s", got)
	}
	if err := s.DeleteBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "b", Notification); strings.Contains(string(got), "function:f") {
		t.Fatal("notification survived DeleteBucket")
	}
	for name, bad := range map[string]string{
		"no target":  `<NotificationConfiguration><QueueConfiguration><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>`,
		"no event":   `<NotificationConfiguration><TopicConfiguration><Topic>arn:t</Topic></TopicConfiguration></NotificationConfiguration>`,
		"bad event":  `<NotificationConfiguration><TopicConfiguration><Topic>arn:t</Topic><Event>Created</Event></TopicConfiguration></NotificationConfiguration>`,
		"bad filter": `<NotificationConfiguration><TopicConfiguration><Topic>arn:t</Topic><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>middle</Name><Value>x</Value></FilterRule></S3Key></Filter></TopicConfiguration></NotificationConfiguration>`,
		"not xml":    `nope`,
	} {
		if err := s.Put(ctx, "b", Notification, []byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := s.Put(ctx, "../x", Lifecycle, nil); err == nil {
		t.Error("path traversal in bucket name accepted")
	}
}
