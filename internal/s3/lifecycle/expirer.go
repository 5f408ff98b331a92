package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Clock tells the expirer what time it is; tests pass a fake one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// Object is the current version of an object.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Version is one version of an object, or a delete marker.
type Version struct {
	Key            string
	VersionID      string
	IsLatest       bool
	IsDeleteMarker bool
	Size           int64
	LastModified   time.Time
}

// Upload is an unfinished multipart upload.
type Upload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// Store is what the expirer needs from the object store.
type Store interface {
	// Buckets lists every bucket.
	Buckets(ctx context.Context) ([]string, error)
	// Lifecycle returns a bucket's configuration, or ErrNoConfiguration.
	Lifecycle(ctx context.Context, bucket string) (*Configuration, error)
	// Versioning returns "Enabled", "Suspended" or "" for a bucket.
	Versioning(ctx context.Context, bucket string) (string, error)
	// ListObjects calls fn for each current object under prefix.
	ListObjects(ctx context.Context, bucket, prefix string, fn func(Object) error) error
	// ListVersions calls fn for every version under prefix, newest first per key.
	ListVersions(ctx context.Context, bucket, prefix string, fn func(Version) error) error
	// ListUploads calls fn for each unfinished multipart upload under prefix.
	ListUploads(ctx context.Context, bucket, prefix string, fn func(Upload) error) error
	// ObjectTags returns the current version's tags.
	ObjectTags(ctx context.Context, bucket, key string) (map[string]string, error)
	// DeleteObject deletes the current version (a delete marker when versioned).
	DeleteObject(ctx context.Context, bucket, key string) error
	// DeleteVersion permanently deletes one version or delete marker.
	DeleteVersion(ctx context.Context, bucket, key, versionID string) error
	// AbortUpload aborts a multipart upload.
	AbortUpload(ctx context.Context, bucket, key, uploadID string) error
}

// Expirer applies lifecycle rules to every bucket.
type Expirer struct {
	Store Store
	Clock Clock
	Log   *slog.Logger
}

// Result counts what one pass did.
type Result struct {
	Expired         int // current objects deleted (or delete-markered)
	NoncurrentGone  int // noncurrent versions deleted
	MarkersRemoved  int // expired object delete markers removed
	UploadsAborted  int // multipart uploads aborted
	BucketsScanned  int
	BucketsWithRule int
}

// Run applies the rules every interval until ctx is cancelled; the first pass
// runs at once.
func (e *Expirer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := e.RunOnce(ctx); err != nil && ctx.Err() == nil {
			e.log().Error("s3 lifecycle: pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce applies every bucket's rules once, at the clock's current time.
func (e *Expirer) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	buckets, err := e.Store.Buckets(ctx)
	if err != nil {
		return res, fmt.Errorf("lifecycle: list buckets: %w", err)
	}
	var firstErr error
	for _, b := range buckets {
		res.BucketsScanned++
		cfg, err := e.Store.Lifecycle(ctx, b)
		if err == ErrNoConfiguration {
			continue
		}
		if err != nil {
			firstErr = keep(firstErr, fmt.Errorf("lifecycle: read configuration of bucket %s: %w", b, err))
			continue
		}
		res.BucketsWithRule++
		if err := e.applyBucket(ctx, b, cfg, &res); err != nil {
			firstErr = keep(firstErr, err)
		}
	}
	return res, firstErr
}

func keep(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func (e *Expirer) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// expiresAt is when an object created at t expires after days: S3 adds the
// days and rounds up to the next midnight UTC.
func expiresAt(t time.Time, days int) time.Time {
	t = t.UTC().Add(time.Duration(days) * 24 * time.Hour)
	d := t.Truncate(24 * time.Hour)
	if d.Before(t) {
		d = d.Add(24 * time.Hour)
	}
	return d
}

func (e *Expirer) applyBucket(ctx context.Context, bucket string, cfg *Configuration, res *Result) error {
	now := e.Clock.Now()
	versioning, err := e.Store.Versioning(ctx, bucket)
	if err != nil {
		return fmt.Errorf("lifecycle: versioning of bucket %s: %w", bucket, err)
	}
	var firstErr error
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if r.Status != "Enabled" {
			continue
		}
		if err := e.applyRule(ctx, bucket, versioning, r, now, res); err != nil {
			firstErr = keep(firstErr, fmt.Errorf("lifecycle: bucket %s rule %q: %w", bucket, r.ID, err))
		}
	}
	return firstErr
}

func (e *Expirer) applyRule(ctx context.Context, bucket, versioning string, r *Rule, now time.Time, res *Result) error {
	prefix := r.prefix()
	want := r.tags()
	matches := func(key string, size int64) (bool, error) {
		if !strings.HasPrefix(key, prefix) || !r.sizeMatches(size) {
			return false, nil
		}
		if len(want) == 0 {
			return true, nil
		}
		have, err := e.Store.ObjectTags(ctx, bucket, key)
		if err != nil {
			return false, fmt.Errorf("tags of %s: %w", key, err)
		}
		for _, t := range want {
			if v, ok := have[t.Key]; !ok || v != t.Value {
				return false, nil
			}
		}
		return true, nil
	}

	if x := r.Expiration; x != nil && (x.Days != nil || x.Date != nil) {
		var date time.Time
		if x.Date != nil {
			date, _ = parseDate(*x.Date)
		}
		err := e.Store.ListObjects(ctx, bucket, prefix, func(o Object) error {
			due := date
			if x.Days != nil {
				due = expiresAt(o.LastModified, *x.Days)
			}
			if now.Before(due) {
				return nil
			}
			ok, err := matches(o.Key, o.Size)
			if err != nil || !ok {
				return err
			}
			if err := e.Store.DeleteObject(ctx, bucket, o.Key); err != nil {
				return fmt.Errorf("expire %s: %w", o.Key, err)
			}
			res.Expired++
			e.log().Info("s3 lifecycle: expired object", "bucket", bucket, "key", o.Key, "rule", r.ID, "last_modified", o.LastModified.UTC().Format(time.RFC3339), "due", due.Format(time.RFC3339))
			return nil
		})
		if err != nil {
			return err
		}
	}

	nv := r.NoncurrentVersionExpiration
	markers := r.Expiration != nil && r.Expiration.ExpiredObjectDeleteMarker != nil && *r.Expiration.ExpiredObjectDeleteMarker
	if versioning != "" && (nv != nil || markers) {
		if err := e.applyVersions(ctx, bucket, prefix, r, nv, markers, now, matches, res); err != nil {
			return err
		}
	}

	if a := r.AbortIncompleteMultipartUpload; a != nil && a.DaysAfterInitiation != nil {
		err := e.Store.ListUploads(ctx, bucket, prefix, func(u Upload) error {
			if now.Before(expiresAt(u.Initiated, *a.DaysAfterInitiation)) || !strings.HasPrefix(u.Key, prefix) {
				return nil
			}
			if err := e.Store.AbortUpload(ctx, bucket, u.Key, u.UploadID); err != nil {
				return fmt.Errorf("abort upload %s of %s: %w", u.UploadID, u.Key, err)
			}
			res.UploadsAborted++
			e.log().Info("s3 lifecycle: aborted incomplete multipart upload", "bucket", bucket, "key", u.Key, "upload_id", u.UploadID, "rule", r.ID, "initiated", u.Initiated.UTC().Format(time.RFC3339))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// applyVersions removes noncurrent versions past NoncurrentDays (keeping the
// NewerNoncurrentVersions newest) and delete markers left with no versions.
func (e *Expirer) applyVersions(ctx context.Context, bucket, prefix string, r *Rule, nv *NoncurrentVersionExpiration, markers bool, now time.Time, matches func(string, int64) (bool, error), res *Result) error {
	var key string
	var group []Version
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		defer func() { group = group[:0] }()
		// newest first
		sort.SliceStable(group, func(i, j int) bool { return group[i].LastModified.After(group[j].LastModified) })
		remaining := len(group)
		if nv != nil {
			kept := 0
			for i := 1; i < len(group); i++ {
				v := group[i]
				// A version becomes noncurrent when its successor is written.
				since := group[i-1].LastModified
				due := expiresAt(since, *nv.NoncurrentDays)
				if now.Before(due) {
					kept++
					continue
				}
				if nv.NewerNoncurrentVersions != nil && kept < *nv.NewerNoncurrentVersions {
					kept++
					continue
				}
				if !v.IsDeleteMarker {
					ok, err := matches(v.Key, v.Size)
					if err != nil {
						return err
					}
					if !ok {
						continue
					}
				}
				if err := e.Store.DeleteVersion(ctx, bucket, v.Key, v.VersionID); err != nil {
					return fmt.Errorf("expire noncurrent version %s of %s: %w", v.VersionID, v.Key, err)
				}
				remaining--
				res.NoncurrentGone++
				e.log().Info("s3 lifecycle: expired noncurrent version", "bucket", bucket, "key", v.Key, "version_id", v.VersionID, "rule", r.ID, "noncurrent_since", since.UTC().Format(time.RFC3339))
			}
		}
		if markers && remaining == 1 && group[0].IsLatest && group[0].IsDeleteMarker && strings.HasPrefix(group[0].Key, prefix) {
			v := group[0]
			if err := e.Store.DeleteVersion(ctx, bucket, v.Key, v.VersionID); err != nil {
				return fmt.Errorf("remove expired delete marker of %s: %w", v.Key, err)
			}
			res.MarkersRemoved++
			e.log().Info("s3 lifecycle: removed expired object delete marker", "bucket", bucket, "key", v.Key, "rule", r.ID)
		}
		return nil
	}
	err := e.Store.ListVersions(ctx, bucket, prefix, func(v Version) error {
		if v.Key != key {
			if err := flush(); err != nil {
				return err
			}
			key = v.Key
		}
		group = append(group, v)
		return nil
	})
	if err != nil {
		return err
	}
	// The marker check must see the whole key, so groups are flushed only
	// when the key changes and once at the end.
	return flush()
}
