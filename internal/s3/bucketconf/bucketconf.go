// Package bucketconf stores, durably on local disk, the bucket configurations the
// embedded S3 engine does not keep itself: lifecycle rules and event notification
// configurations. Documents are validated as S3 validates them, written with
// fsync and an atomic rename, and survive a crash of the process.
//
// Notifications are recorded only: nothing is delivered yet.
package bucketconf

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/edgeserverlessbox/esb/internal/s3/lifecycle"
)

// Kinds of documents.
const (
	Lifecycle    = "lifecycle"
	Notification = "notification"
)

// Error is an S3 error answer.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Message }

// S3Code returns the S3 error code.
func (e *Error) S3Code() string { return e.Code }

// HTTPStatus returns the HTTP status of the error answer.
func (e *Error) HTTPStatus() int { return e.Status }

// Store keeps one file per bucket and kind under its directory.
type Store struct {
	dir string
	mu  sync.Mutex
}

// Open returns a store rooted at dir, creating it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open bucket configuration store %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(bucket, kind string) (string, error) {
	if bucket == "" || strings.ContainsAny(bucket, "/\\") || bucket == "." || bucket == ".." {
		return "", &Error{Code: "InvalidBucketName", Message: "The specified bucket is not valid.", Status: 400}
	}
	return filepath.Join(s.dir, bucket, kind+".xml"), nil
}

// Put validates body as a document of kind and stores it.
func (s *Store) Put(_ context.Context, bucket, kind string, body []byte) error {
	var doc []byte
	switch kind {
	case Lifecycle:
		c, err := lifecycle.Parse(body)
		if err != nil {
			return err
		}
		if doc, err = c.Marshal(); err != nil {
			return err
		}
	case Notification:
		c, err := ParseNotification(body)
		if err != nil {
			return err
		}
		if doc, err = c.Marshal(); err != nil {
			return err
		}
	default:
		return &Error{Code: "NotImplemented", Message: "A header you provided implies functionality that is not implemented.", Status: 501}
	}
	p, err := s.path(bucket, kind)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return writeDurable(p, doc)
}

// Get returns the stored document. A bucket without a lifecycle configuration
// answers NoSuchLifecycleConfiguration; without notifications, an empty
// NotificationConfiguration, as S3 does.
func (s *Store) Get(_ context.Context, bucket, kind string) ([]byte, error) {
	p, err := s.path(bucket, kind)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		switch kind {
		case Lifecycle:
			return nil, &Error{Code: "NoSuchLifecycleConfiguration", Message: "The lifecycle configuration does not exist", Status: 404}
		case Notification:
			return (&NotificationConfiguration{}).Marshal()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s configuration of bucket %s: %w", kind, bucket, err)
	}
	return data, nil
}

// Delete removes the document of kind; a missing one is not an error.
func (s *Store) Delete(_ context.Context, bucket, kind string) error {
	p, err := s.path(bucket, kind)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s configuration of bucket %s: %w", kind, bucket, err)
	}
	return syncDir(filepath.Dir(p))
}

// DeleteBucket removes every document of a bucket.
func (s *Store) DeleteBucket(_ context.Context, bucket string) error {
	p, err := s.path(bucket, Lifecycle)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.RemoveAll(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete configurations of bucket %s: %w", bucket, err)
	}
	return nil
}

// writeDurable writes data to a temporary file, fsyncs it, renames it over p
// and fsyncs the directory, so an acknowledged Put survives a crash.
func writeDurable(p string, data []byte) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("store %s: %w", p, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("store %s: %w", p, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("store %s: %w", p, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("store %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("store %s: %w", p, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// NotificationConfiguration is S3's bucket notification document.
type NotificationConfiguration struct {
	XMLName    xml.Name            `xml:"NotificationConfiguration"`
	Xmlns      string              `xml:"xmlns,attr,omitempty"`
	Topics     []NotificationRoute `xml:"TopicConfiguration"`
	Queues     []NotificationRoute `xml:"QueueConfiguration"`
	Functions  []NotificationRoute `xml:"CloudFunctionConfiguration"`
	EventBrige *struct{}           `xml:"EventBridgeConfiguration"`
}

// NotificationRoute is one topic, queue or Lambda function target.
type NotificationRoute struct {
	ID            string              `xml:"Id,omitempty"`
	Topic         string              `xml:"Topic,omitempty"`
	Queue         string              `xml:"Queue,omitempty"`
	CloudFunction string              `xml:"CloudFunction,omitempty"`
	Events        []string            `xml:"Event"`
	Filter        *NotificationFilter `xml:"Filter,omitempty"`
}

// NotificationFilter filters object keys by prefix and suffix.
type NotificationFilter struct {
	Key struct {
		Rules []FilterRule `xml:"FilterRule"`
	} `xml:"S3Key"`
}

// FilterRule is a prefix or suffix rule.
type FilterRule struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

// ParseNotification decodes and validates a NotificationConfiguration.
func ParseNotification(body []byte) (*NotificationConfiguration, error) {
	var c NotificationConfiguration
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&c); err != nil {
		return nil, &Error{Code: "MalformedXML", Message: "The XML you provided was not well-formed or did not validate against our published schema: " + err.Error(), Status: 400}
	}
	check := func(kind string, routes []NotificationRoute, target func(NotificationRoute) string) error {
		for _, r := range routes {
			if target(r) == "" {
				return &Error{Code: "InvalidArgument", Message: kind + " is missing its target ARN", Status: 400}
			}
			if len(r.Events) == 0 {
				return &Error{Code: "InvalidArgument", Message: kind + " needs at least one Event", Status: 400}
			}
			for _, e := range r.Events {
				if !strings.HasPrefix(e, "s3:") {
					return &Error{Code: "InvalidArgument", Message: "The event is not supported for notifications: " + e, Status: 400}
				}
			}
			if r.Filter != nil {
				seen := map[string]bool{}
				for _, fr := range r.Filter.Key.Rules {
					name := strings.ToLower(fr.Name)
					if name != "prefix" && name != "suffix" || seen[name] {
						return &Error{Code: "InvalidArgument", Message: "FilterRule names must be prefix or suffix, each at most once", Status: 400}
					}
					seen[name] = true
				}
			}
		}
		return nil
	}
	if err := check("TopicConfiguration", c.Topics, func(r NotificationRoute) string { return r.Topic }); err != nil {
		return nil, err
	}
	if err := check("QueueConfiguration", c.Queues, func(r NotificationRoute) string { return r.Queue }); err != nil {
		return nil, err
	}
	if err := check("CloudFunctionConfiguration", c.Functions, func(r NotificationRoute) string { return r.CloudFunction }); err != nil {
		return nil, err
	}
	return &c, nil
}

// Marshal encodes c with S3's namespace.
func (c *NotificationConfiguration) Marshal() ([]byte, error) {
	out := *c
	out.Xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"
	b, err := xml.Marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encode notification configuration: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}
