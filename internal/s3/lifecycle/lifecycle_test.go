package lifecycle

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	doc := `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Rule><ID>a</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter><Expiration><Days>7</Days></Expiration></Rule>
  <Rule><ID>b</ID><Status>Disabled</Status><Prefix>old/</Prefix><Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration></Rule>
  <Rule><ID>c</ID><Status>Enabled</Status><Filter><And><Prefix>t/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter>
    <NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>
  <Rule><ID>d</ID><Status>Enabled</Status><Filter></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>
    <Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>
</LifecycleConfiguration>`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 4 || c.Rules[0].prefix() != "logs/" || c.Rules[1].prefix() != "old/" || c.Rules[2].prefix() != "t/" || len(c.Rules[2].tags()) != 1 {
		t.Fatalf("parsed %+v", c.Rules)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse of marshalled document: %v\n%s", err, out)
	}
	if len(again.Rules) != 4 || len(again.Rules[3].Transitions) != 1 || !strings.Contains(string(out), "<StorageClass>GLACIER</StorageClass>") {
		t.Fatalf("round trip lost data:\n%s", out)
	}
}

func TestParseInvalid(t *testing.T) {
	rule := func(inner string) string {
		return "<LifecycleConfiguration>" + inner + "</LifecycleConfiguration>"
	}
	for name, tc := range map[string]struct{ doc, code string }{
		"not xml":         {"{", "MalformedXML"},
		"no rules":        {rule(""), "MalformedXML"},
		"bad status":      {rule(`<Rule><Status>On</Status><Expiration><Days>1</Days></Expiration></Rule>`), "MalformedXML"},
		"no action":       {rule(`<Rule><Status>Enabled</Status><Filter><Prefix/></Filter></Rule>`), "InvalidRequest"},
		"zero days":       {rule(`<Rule><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule>`), "InvalidArgument"},
		"days and date":   {rule(`<Rule><Status>Enabled</Status><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>`), "MalformedXML"},
		"date not 00:00":  {rule(`<Rule><Status>Enabled</Status><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration></Rule>`), "InvalidArgument"},
		"duplicate ids":   {rule(`<Rule><ID>x</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule><Rule><ID>x</ID><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>`), "InvalidArgument"},
		"long id":         {rule(`<Rule><ID>` + strings.Repeat("i", 256) + `</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "InvalidArgument"},
		"prefix+filter":   {rule(`<Rule><Status>Enabled</Status><Prefix>a</Prefix><Filter><Prefix>b</Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule>`), "MalformedXML"},
		"two conditions":  {rule(`<Rule><Status>Enabled</Status><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Expiration><Days>1</Days></Expiration></Rule>`), "MalformedXML"},
		"abort with tags": {rule(`<Rule><Status>Enabled</Status><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>`), "InvalidRequest"},
		"marker and tags": {rule(`<Rule><Status>Enabled</Status><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>`), "InvalidRequest"},
		"size inverted":   {rule(`<Rule><Status>Enabled</Status><Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter><Expiration><Days>1</Days></Expiration></Rule>`), "InvalidArgument"},
		"duplicate tags":  {rule(`<Rule><Status>Enabled</Status><Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And></Filter><Expiration><Days>1</Days></Expiration></Rule>`), "InvalidRequest"},
		"noncurrent zero": {rule(`<Rule><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration></Rule>`), "InvalidArgument"},
	} {
		_, err := Parse([]byte(tc.doc))
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || e.HTTPStatus() != 400 {
			t.Errorf("%s: want %s, got %v", name, tc.code, err)
		}
	}
	many := "<LifecycleConfiguration>" + strings.Repeat(`<Rule><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`, MaxRules+1) + "</LifecycleConfiguration>"
	if _, err := Parse([]byte(many)); err == nil {
		t.Error("1001 rules accepted")
	}
}

func TestExpiresAtRoundsToNextMidnightUTC(t *testing.T) {
	for _, tc := range []struct {
		created string
		days    int
		want    string
	}{
		{"2014-01-15T10:30:00Z", 3, "2014-01-19T00:00:00Z"},
		{"2014-01-15T00:00:00Z", 1, "2014-01-16T00:00:00Z"},
		{"2014-01-15T23:59:59Z", 1, "2014-01-17T00:00:00Z"},
		{"2014-01-15T10:30:00+09:00", 1, "2014-01-17T00:00:00Z"}, // 01:30 UTC on the 15th
	} {
		c, _ := time.Parse(time.RFC3339, tc.created)
		if got := expiresAt(c, tc.days).Format(time.RFC3339); got != tc.want {
			t.Errorf("expiresAt(%s, %d) = %s, want %s", tc.created, tc.days, got, tc.want)
		}
	}
}

// memStore is an in-memory Store.
type memStore struct {
	cfg        map[string]*Configuration
	versioning map[string]string
	objects    map[string][]Version // bucket/key → versions, newest first
	tags       map[string]map[string]string
	uploads    map[string][]Upload
	seq        int
	deleted    []string
	clock      *clock // time of delete markers
}

func newMemStore() *memStore {
	return &memStore{cfg: map[string]*Configuration{}, versioning: map[string]string{}, objects: map[string][]Version{}, tags: map[string]map[string]string{}, uploads: map[string][]Upload{}}
}

func (m *memStore) put(bucket, key string, at time.Time, size int64) {
	m.seq++
	id := "v" + string(rune('a'+m.seq))
	k := bucket + "/" + key
	vs := m.objects[k]
	for i := range vs {
		vs[i].IsLatest = false
	}
	if m.versioning[bucket] == "" {
		vs = nil
	}
	m.objects[k] = append([]Version{{Key: key, VersionID: id, IsLatest: true, Size: size, LastModified: at}}, vs...)
}

func (m *memStore) Buckets(context.Context) ([]string, error) {
	seen := map[string]bool{}
	for b := range m.cfg {
		seen[b] = true
	}
	var out []string
	for b := range seen {
		out = append(out, b)
	}
	sort.Strings(out)
	return out, nil
}

func (m *memStore) Lifecycle(_ context.Context, b string) (*Configuration, error) {
	if c, ok := m.cfg[b]; ok {
		return c, nil
	}
	return nil, ErrNoConfiguration
}

func (m *memStore) Versioning(_ context.Context, b string) (string, error) {
	return m.versioning[b], nil
}

func (m *memStore) keys(bucket string) []string {
	var ks []string
	for k := range m.objects {
		if strings.HasPrefix(k, bucket+"/") {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func (m *memStore) ListObjects(_ context.Context, bucket, prefix string, fn func(Object) error) error {
	for _, k := range m.keys(bucket) {
		vs := m.objects[k]
		if len(vs) == 0 || vs[0].IsDeleteMarker || !strings.HasPrefix(vs[0].Key, prefix) {
			continue
		}
		if err := fn(Object{Key: vs[0].Key, Size: vs[0].Size, LastModified: vs[0].LastModified}); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) ListVersions(_ context.Context, bucket, prefix string, fn func(Version) error) error {
	for _, k := range m.keys(bucket) {
		for _, v := range append([]Version(nil), m.objects[k]...) {
			if strings.HasPrefix(v.Key, prefix) {
				if err := fn(v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (m *memStore) ListUploads(_ context.Context, bucket, prefix string, fn func(Upload) error) error {
	for _, u := range append([]Upload(nil), m.uploads[bucket]...) {
		if strings.HasPrefix(u.Key, prefix) {
			if err := fn(u); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *memStore) ObjectTags(_ context.Context, bucket, key string) (map[string]string, error) {
	return m.tags[bucket+"/"+key], nil
}

func (m *memStore) DeleteObject(_ context.Context, bucket, key string) error {
	k := bucket + "/" + key
	m.deleted = append(m.deleted, k)
	if m.versioning[bucket] == "" {
		delete(m.objects, k)
		return nil
	}
	vs := m.objects[k]
	for i := range vs {
		vs[i].IsLatest = false
	}
	m.seq++
	m.objects[k] = append([]Version{{Key: key, VersionID: "dm" + string(rune('a'+m.seq)), IsLatest: true, IsDeleteMarker: true, LastModified: m.clock.Now()}}, vs...)
	return nil
}

func (m *memStore) DeleteVersion(_ context.Context, bucket, key, id string) error {
	k := bucket + "/" + key
	m.deleted = append(m.deleted, k+"@"+id)
	vs := m.objects[k]
	for i, v := range vs {
		if v.VersionID == id {
			m.objects[k] = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	if len(m.objects[k]) == 0 {
		delete(m.objects, k)
	} else if !m.objects[k][0].IsLatest {
		m.objects[k][0].IsLatest = true
	}
	return nil
}

func (m *memStore) AbortUpload(_ context.Context, bucket, key, id string) error {
	us := m.uploads[bucket]
	for i, u := range us {
		if u.UploadID == id {
			m.uploads[bucket] = append(us[:i:i], us[i+1:]...)
		}
	}
	return nil
}

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func intp(i int) *int       { return &i }
func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }
func i64p(i int64) *int64   { return &i }

func TestExpirerAppliesRules(t *testing.T) {
	day0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := newMemStore()
	m.cfg["b"] = &Configuration{Rules: []Rule{
		{ID: "logs", Status: "Enabled", Filter: &Filter{Prefix: strp("logs/")}, Expiration: &Expiration{Days: intp(2)}},
		{ID: "tagged", Status: "Enabled", Filter: &Filter{Tag: &Tag{Key: "t", Value: "1"}}, Expiration: &Expiration{Days: intp(1)}},
		{ID: "big", Status: "Enabled", Filter: &Filter{And: &And{Prefix: strp("media/"), ObjectSizeGreaterThan: i64p(100)}}, Expiration: &Expiration{Days: intp(1)}},
		{ID: "dated", Status: "Enabled", Prefix: strp("old/"), Expiration: &Expiration{Date: strp("2026-03-10T00:00:00Z")}},
		{ID: "off", Status: "Disabled", Expiration: &Expiration{Days: intp(1)}},
		{ID: "mpu", Status: "Enabled", AbortIncompleteMultipartUpload: &AbortIncompleteMultipartUpload{DaysAfterInitiation: intp(3)}},
	}}
	m.put("b", "logs/a", day0, 1)
	m.put("b", "logs/b", day0.Add(36*time.Hour), 1)
	m.put("b", "x/tagged", day0, 1)
	m.tags["b/x/tagged"] = map[string]string{"t": "1"}
	m.put("b", "x/untagged", day0, 1)
	m.put("b", "media/small", day0, 50)
	m.put("b", "media/large", day0, 500)
	m.put("b", "old/thing", day0, 1)
	m.uploads["b"] = []Upload{{Key: "u", UploadID: "up1", Initiated: day0}, {Key: "u2", UploadID: "up2", Initiated: day0.Add(48 * time.Hour)}}

	c := &clock{day0}
	m.clock = c
	e := &Expirer{Store: m, Clock: c}
	step := func(at time.Time) Result {
		c.t = at
		res, err := e.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	left := func() string {
		var ks []string
		for k := range m.objects {
			ks = append(ks, strings.TrimPrefix(k, "b/"))
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	if res := step(day0.Add(time.Hour)); res.Expired != 0 || res.UploadsAborted != 0 {
		t.Fatalf("nothing due after 1 h: %+v", res)
	}
	// Day 0 12:00 + 1 day → due at 00:00 on day 2 (Mar 3).
	step(time.Date(2026, 3, 2, 23, 59, 0, 0, time.UTC))
	if got := left(); got != "logs/a logs/b media/large media/small old/thing x/tagged x/untagged" {
		t.Fatalf("before midnight of the rounded day: %s", got)
	}
	step(time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC))
	if got := left(); got != "logs/a logs/b media/small old/thing x/untagged" {
		t.Fatalf("on Mar 3: %s", got)
	}
	step(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) // logs/a due Mar 4, logs/b (Mar 3 00:00 + 2 d) due Mar 5
	if got := left(); got != "logs/b media/small old/thing x/untagged" {
		t.Fatalf("on Mar 4: %s", got)
	}
	if len(m.uploads["b"]) != 2 {
		t.Fatalf("upload started Mar 1 12:00 with 3 days is due Mar 5; after Mar 4: %+v", m.uploads["b"])
	}
	res := step(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	if got := left(); got != "media/small x/untagged" {
		t.Fatalf("on Mar 10: %s", got)
	}
	if len(m.uploads["b"]) != 0 || res.UploadsAborted != 2 {
		t.Fatalf("uploads left on Mar 10: %+v (%+v)", m.uploads["b"], res)
	}
}

func TestExpirerVersionedBucket(t *testing.T) {
	day0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := newMemStore()
	m.versioning["v"] = "Enabled"
	m.cfg["v"] = &Configuration{Rules: []Rule{
		{ID: "cur", Status: "Enabled", Filter: &Filter{Prefix: strp("cur/")}, Expiration: &Expiration{Days: intp(1)}},
		{ID: "nc", Status: "Enabled", Filter: &Filter{Prefix: strp("doc")}, NoncurrentVersionExpiration: &NoncurrentVersionExpiration{NoncurrentDays: intp(2), NewerNoncurrentVersions: intp(1)}},
		{ID: "nc-cur", Status: "Enabled", Filter: &Filter{Prefix: strp("cur/")}, NoncurrentVersionExpiration: &NoncurrentVersionExpiration{NoncurrentDays: intp(2)}},
		{ID: "dm", Status: "Enabled", Expiration: &Expiration{ExpiredObjectDeleteMarker: boolp(true)}},
	}}
	for i := 0; i < 4; i++ {
		m.put("v", "doc", day0.Add(time.Duration(i)*time.Hour), 1)
	}
	m.put("v", "cur/x", day0, 1)
	c := &clock{time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)}
	m.clock = c
	e := &Expirer{Store: m, Clock: c}
	if _, err := e.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// cur/x expired into a delete marker over its version.
	if vs := m.objects["v/cur/x"]; len(vs) != 2 || !vs[0].IsDeleteMarker {
		t.Fatalf("cur/x after current-version expiry: %+v", vs)
	}
	if len(m.objects["v/doc"]) != 4 {
		t.Fatalf("noncurrent versions are not due before Mar 4: %d left", len(m.objects["v/doc"]))
	}
	c.t = time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)
	if _, err := e.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// current + one newer noncurrent kept.
	if vs := m.objects["v/doc"]; len(vs) != 2 || !vs[0].IsLatest {
		t.Fatalf("doc versions after NoncurrentVersionExpiration with 1 kept: %+v", vs)
	}
	// cur/x: its noncurrent version went on Mar 6 (noncurrent since Mar 3 + 2 d
	// → Mar 5), leaving a lone delete marker, removed in the next pass.
	if _, err := e.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vs, ok := m.objects["v/cur/x"]; ok {
		t.Fatalf("cur/x should be gone entirely, have %+v", vs)
	}
}
