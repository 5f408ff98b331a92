// Package lifecycle implements S3 bucket lifecycle configuration for the embedded
// S3 server: the LifecycleConfiguration document (parsed and validated as S3 does)
// and an expirer that applies Expiration, NoncurrentVersionExpiration,
// ExpiredObjectDeleteMarker and AbortIncompleteMultipartUpload with prefix, tag
// and size filters. Transitions are accepted and stored but have no effect: there
// is one storage class.
package lifecycle

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
)

// xmlns is S3's XML namespace.
const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// S3 limits of a lifecycle configuration.
const (
	MaxRules    = 1000
	MaxIDLength = 255
)

// Configuration is a bucket's LifecycleConfiguration.
type Configuration struct {
	XMLName xml.Name `xml:"LifecycleConfiguration"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Rules   []Rule   `xml:"Rule"`
}

// Rule is one lifecycle rule.
type Rule struct {
	ID     string  `xml:"ID,omitempty"`
	Status string  `xml:"Status"`
	Prefix *string `xml:"Prefix"` // legacy top-level prefix
	Filter *Filter `xml:"Filter"`

	Expiration                     *Expiration                     `xml:"Expiration"`
	NoncurrentVersionExpiration    *NoncurrentVersionExpiration    `xml:"NoncurrentVersionExpiration"`
	AbortIncompleteMultipartUpload *AbortIncompleteMultipartUpload `xml:"AbortIncompleteMultipartUpload"`
	Transitions                    []RawElement                    `xml:"Transition"`
	NoncurrentVersionTransitions   []RawElement                    `xml:"NoncurrentVersionTransition"`
}

// Filter selects the objects a rule applies to.
type Filter struct {
	Prefix                *string `xml:"Prefix"`
	Tag                   *Tag    `xml:"Tag"`
	ObjectSizeGreaterThan *int64  `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *int64  `xml:"ObjectSizeLessThan"`
	And                   *And    `xml:"And"`
}

// And combines several filter conditions.
type And struct {
	Prefix                *string `xml:"Prefix"`
	Tags                  []Tag   `xml:"Tag"`
	ObjectSizeGreaterThan *int64  `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *int64  `xml:"ObjectSizeLessThan"`
}

// Tag is an object tag a filter requires.
type Tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// Expiration expires current versions by age or date, or removes expired
// object delete markers.
type Expiration struct {
	Days                      *int    `xml:"Days"`
	Date                      *string `xml:"Date"`
	ExpiredObjectDeleteMarker *bool   `xml:"ExpiredObjectDeleteMarker"`
}

// NoncurrentVersionExpiration removes noncurrent versions.
type NoncurrentVersionExpiration struct {
	NoncurrentDays          *int `xml:"NoncurrentDays"`
	NewerNoncurrentVersions *int `xml:"NewerNoncurrentVersions"`
}

// AbortIncompleteMultipartUpload aborts uploads left unfinished.
type AbortIncompleteMultipartUpload struct {
	DaysAfterInitiation *int `xml:"DaysAfterInitiation"`
}

// RawElement keeps an element esb stores but does not act on (transitions).
type RawElement struct {
	Inner []byte `xml:",innerxml"`
}

// Error is a validation error carrying S3's error code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// S3Code returns the S3 error code.
func (e *Error) S3Code() string { return e.Code }

// HTTPStatus returns 400: every lifecycle validation error is a client error.
func (e *Error) HTTPStatus() int { return 400 }

func malformed(format string, args ...any) error {
	return &Error{Code: "MalformedXML", Message: fmt.Sprintf(format, args...)}
}

func invalidArgument(format string, args ...any) error {
	return &Error{Code: "InvalidArgument", Message: fmt.Sprintf(format, args...)}
}

func invalidRequest(format string, args ...any) error {
	return &Error{Code: "InvalidRequest", Message: fmt.Sprintf(format, args...)}
}

// Parse decodes and validates a LifecycleConfiguration document the way S3's
// PutBucketLifecycleConfiguration does.
func Parse(body []byte) (*Configuration, error) {
	var c Configuration
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&c); err != nil {
		return nil, malformed("The XML you provided was not well-formed or did not validate against our published schema: %v", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Marshal encodes c as S3 returns it from GetBucketLifecycleConfiguration.
func (c *Configuration) Marshal() ([]byte, error) {
	out := *c
	out.Xmlns = xmlns
	b, err := xml.Marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encode lifecycle configuration: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// Validate checks c against S3's rules for lifecycle configurations.
func (c *Configuration) Validate() error {
	if len(c.Rules) == 0 {
		return malformed("The XML you provided was not well-formed or did not validate against our published schema: at least one Rule is required")
	}
	if len(c.Rules) > MaxRules {
		return malformed("The XML you provided was not well-formed or did not validate against our published schema: at most %d rules are allowed", MaxRules)
	}
	ids := make(map[string]bool, len(c.Rules))
	for i := range c.Rules {
		r := &c.Rules[i]
		if len(r.ID) > MaxIDLength {
			return invalidArgument("ID length should not exceed allowed limit of %d", MaxIDLength)
		}
		if r.ID != "" {
			if ids[r.ID] {
				return invalidArgument("Rule ID must be unique. Found same ID for more than one rule")
			}
			ids[r.ID] = true
		}
		if err := r.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rule) validate() error {
	if r.Status != "Enabled" && r.Status != "Disabled" {
		return malformed("The XML you provided was not well-formed or did not validate against our published schema: Status must be Enabled or Disabled")
	}
	if r.Prefix != nil && r.Filter != nil {
		return malformed("The XML you provided was not well-formed or did not validate against our published schema: a rule has either Prefix or Filter, not both")
	}
	if r.Filter != nil {
		if err := r.Filter.validate(); err != nil {
			return err
		}
	}
	if r.Expiration == nil && r.NoncurrentVersionExpiration == nil && r.AbortIncompleteMultipartUpload == nil &&
		len(r.Transitions) == 0 && len(r.NoncurrentVersionTransitions) == 0 {
		return invalidRequest("At least one action needs to be specified in a rule")
	}
	hasTags := len(r.tags()) > 0
	if e := r.Expiration; e != nil {
		n := 0
		if e.Days != nil {
			n++
			if *e.Days <= 0 {
				return invalidArgument("'Days' for Expiration action must be a positive integer")
			}
		}
		if e.Date != nil {
			n++
			if _, err := parseDate(*e.Date); err != nil {
				return err
			}
		}
		if e.ExpiredObjectDeleteMarker != nil {
			n++
			if *e.ExpiredObjectDeleteMarker && hasTags {
				return invalidRequest("ExpiredObjectDeleteMarker cannot be specified with tags.")
			}
		}
		if n != 1 {
			return malformed("The XML you provided was not well-formed or did not validate against our published schema: Expiration takes exactly one of Days, Date or ExpiredObjectDeleteMarker")
		}
	}
	if nv := r.NoncurrentVersionExpiration; nv != nil {
		if nv.NoncurrentDays == nil || *nv.NoncurrentDays <= 0 {
			return invalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer")
		}
		if nv.NewerNoncurrentVersions != nil && (*nv.NewerNoncurrentVersions <= 0 || *nv.NewerNoncurrentVersions > 100) {
			return invalidArgument("'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer up to 100")
		}
	}
	if a := r.AbortIncompleteMultipartUpload; a != nil {
		if a.DaysAfterInitiation == nil || *a.DaysAfterInitiation <= 0 {
			return invalidArgument("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer")
		}
		if hasTags {
			return invalidRequest("AbortIncompleteMultipartUpload cannot be specified with Tags.")
		}
	}
	return nil
}

func (f *Filter) validate() error {
	n := 0
	for _, set := range []bool{f.Prefix != nil, f.Tag != nil, f.ObjectSizeGreaterThan != nil, f.ObjectSizeLessThan != nil, f.And != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return malformed("The XML you provided was not well-formed or did not validate against our published schema: Filter takes one condition; combine several with And")
	}
	gt, lt := f.ObjectSizeGreaterThan, f.ObjectSizeLessThan
	if a := f.And; a != nil {
		gt, lt = a.ObjectSizeGreaterThan, a.ObjectSizeLessThan
		keys := map[string]bool{}
		for _, t := range a.Tags {
			if keys[t.Key] {
				return invalidRequest("Duplicate Tag Keys are not allowed.")
			}
			keys[t.Key] = true
		}
	}
	if gt != nil && *gt < 0 || lt != nil && *lt <= 0 {
		return invalidArgument("ObjectSizeGreaterThan must be non-negative and ObjectSizeLessThan positive")
	}
	if gt != nil && lt != nil && *gt >= *lt {
		return invalidArgument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan")
	}
	return nil
}

// parseDate accepts an ISO 8601 date at midnight UTC, as S3 requires.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		t = t.UTC()
		if !t.Equal(t.Truncate(24 * time.Hour)) {
			return time.Time{}, invalidArgument("'Date' must be at midnight GMT")
		}
		return t, nil
	}
	return time.Time{}, invalidArgument("'Date' must be an ISO 8601 date at midnight GMT, e.g. 2030-01-01T00:00:00Z")
}

// prefix returns the rule's key prefix, wherever it is written.
func (r *Rule) prefix() string {
	switch {
	case r.Prefix != nil:
		return *r.Prefix
	case r.Filter == nil:
		return ""
	case r.Filter.Prefix != nil:
		return *r.Filter.Prefix
	case r.Filter.And != nil && r.Filter.And.Prefix != nil:
		return *r.Filter.And.Prefix
	}
	return ""
}

// tags returns the tags an object must carry for the rule to apply.
func (r *Rule) tags() []Tag {
	if r.Filter == nil {
		return nil
	}
	if r.Filter.Tag != nil {
		return []Tag{*r.Filter.Tag}
	}
	if r.Filter.And != nil {
		return r.Filter.And.Tags
	}
	return nil
}

// sizeMatches reports whether an object of size passes the rule's size filter.
func (r *Rule) sizeMatches(size int64) bool {
	if r.Filter == nil {
		return true
	}
	gt, lt := r.Filter.ObjectSizeGreaterThan, r.Filter.ObjectSizeLessThan
	if r.Filter.And != nil {
		gt, lt = r.Filter.And.ObjectSizeGreaterThan, r.Filter.And.ObjectSizeLessThan
	}
	return (gt == nil || size > *gt) && (lt == nil || size < *lt)
}

// ErrNoConfiguration is returned when a bucket has no lifecycle configuration.
var ErrNoConfiguration = errors.New("no lifecycle configuration")
