package sam

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// resolveProps resolves a resource's properties, merging Globals.<section> first.
func (c *compiler) resolveProps(rs *Resource, section string) (*Node, error) {
	raw := rs.Properties
	if section != "" && c.t.Globals != nil {
		raw = mergeGlobals(c.t.Globals.Get(section), raw)
	}
	v, err := c.r.resolve(raw, rs.LogicalID)
	if err != nil {
		return nil, err
	}
	if v == nil || v == noValue {
		v = &Node{Kind: KindMap, Line: rs.Line}
	}
	return v, nil
}

// table compiles an AWS::DynamoDB::Table or AWS::Serverless::SimpleTable.
func (c *compiler) table(rs *Resource) (manifest.Table, error) {
	id := rs.LogicalID
	name, err := c.r.physicalName(id)
	if err != nil {
		return manifest.Table{}, err
	}
	t := manifest.Table{LogicalID: id, Name: name}
	if rs.Type == TypeSimpleTable {
		p, err := c.resolveProps(rs, "SimpleTable")
		if err != nil {
			return t, err
		}
		keyName, keyType := "id", "S"
		if pk := p.Get("PrimaryKey"); pk != nil {
			if n := pk.Get("Name"); n != nil {
				keyName = n.Value
			}
			if ty := pk.Get("Type"); ty != nil {
				switch ty.Value {
				case "String":
					keyType = "S"
				case "Number":
					keyType = "N"
				case "Binary":
					keyType = "B"
				default:
					return t, c.errorf(ty.Line, id, "PrimaryKey.Type %q must be String, Number or Binary", ty.Value)
				}
			}
		}
		t.KeySchema = []manifest.KeyElement{{AttributeName: keyName, KeyType: "HASH"}}
		t.AttributeDefinitions = []manifest.AttributeDefinition{{AttributeName: keyName, AttributeType: keyType}}
		t.BillingMode = "PAY_PER_REQUEST"
		if pt := p.Get("ProvisionedThroughput"); pt != nil {
			tp, err := c.throughput(pt, id)
			if err != nil {
				return t, err
			}
			t.BillingMode, t.ProvisionedThroughput = "PROVISIONED", tp
		}
		return t, nil
	}

	p, err := c.resolveProps(rs, "")
	if err != nil {
		return t, err
	}
	ks := p.Get("KeySchema")
	if ks == nil {
		return t, c.errorf(rs.Line, id, "KeySchema is missing (e.g. [{AttributeName: id, KeyType: HASH}])")
	}
	if t.KeySchema, err = c.keySchema(ks, id, "KeySchema"); err != nil {
		return t, err
	}
	ad := p.Get("AttributeDefinitions")
	if ad == nil || ad.Kind != KindSeq {
		return t, c.errorf(rs.Line, id, "AttributeDefinitions is missing; declare each key attribute with AttributeName and AttributeType (S, N or B)")
	}
	defined := map[string]int{}
	for _, it := range ad.Items {
		an, at := it.Get("AttributeName"), it.Get("AttributeType")
		if an == nil || at == nil || an.Kind != KindScalar || at.Kind != KindScalar {
			return t, c.errorf(it.Line, id, "each AttributeDefinitions entry needs AttributeName and AttributeType")
		}
		if at.Value != "S" && at.Value != "N" && at.Value != "B" {
			return t, c.errorf(at.Line, id, "AttributeType %q of %s must be S, N or B", at.Value, an.Value)
		}
		if _, dup := defined[an.Value]; dup {
			return t, c.errorf(an.Line, id, "attribute %s is defined twice in AttributeDefinitions", an.Value)
		}
		defined[an.Value] = it.Line
		t.AttributeDefinitions = append(t.AttributeDefinitions, manifest.AttributeDefinition{AttributeName: an.Value, AttributeType: at.Value})
	}

	t.BillingMode = "PROVISIONED"
	if bm := p.Get("BillingMode"); bm != nil {
		if bm.Value != "PROVISIONED" && bm.Value != "PAY_PER_REQUEST" {
			return t, c.errorf(bm.Line, id, "BillingMode %q must be PROVISIONED or PAY_PER_REQUEST", bm.Value)
		}
		t.BillingMode = bm.Value
	}
	if pt := p.Get("ProvisionedThroughput"); pt != nil {
		if t.ProvisionedThroughput, err = c.throughput(pt, id); err != nil {
			return t, err
		}
	}
	if t.BillingMode == "PROVISIONED" && t.ProvisionedThroughput == nil {
		return t, c.errorf(rs.Line, id, "BillingMode PROVISIONED (the default) needs ProvisionedThroughput; add it or set BillingMode: PAY_PER_REQUEST")
	}
	used := map[string]bool{}
	for _, k := range t.KeySchema {
		used[k.AttributeName] = true
	}
	if n := p.Get("GlobalSecondaryIndexes"); n != nil {
		if t.GlobalSecondaryIndexes, err = c.indexes(n, id, "GlobalSecondaryIndexes", t.BillingMode == "PROVISIONED", used); err != nil {
			return t, err
		}
		if len(t.GlobalSecondaryIndexes) > 20 {
			return t, c.errorf(n.Line, id, "a table can have at most 20 GlobalSecondaryIndexes")
		}
	}
	if n := p.Get("LocalSecondaryIndexes"); n != nil {
		if t.LocalSecondaryIndexes, err = c.indexes(n, id, "LocalSecondaryIndexes", false, used); err != nil {
			return t, err
		}
		if len(t.LocalSecondaryIndexes) > 5 {
			return t, c.errorf(n.Line, id, "a table can have at most 5 LocalSecondaryIndexes")
		}
		for _, ix := range t.LocalSecondaryIndexes {
			if len(ix.KeySchema) != 2 || ix.KeySchema[0].AttributeName != t.KeySchema[0].AttributeName {
				return t, c.errorf(n.Line, id, "LocalSecondaryIndex %s must have the table's HASH key (%s) and a RANGE key", ix.IndexName, t.KeySchema[0].AttributeName)
			}
		}
	}
	for a := range used {
		if _, ok := defined[a]; !ok {
			return t, c.errorf(ad.Line, id, "key attribute %s is not declared in AttributeDefinitions; add {AttributeName: %s, AttributeType: S|N|B}", a, a)
		}
	}
	for a, line := range defined {
		if !used[a] {
			return t, c.errorf(line, id, "AttributeDefinitions declares %s, which no key schema uses; DynamoDB rejects that, remove it", a)
		}
	}
	if ttl := p.Get("TimeToLiveSpecification"); ttl != nil {
		an := ttl.Get("AttributeName")
		if an == nil || an.Kind != KindScalar || an.Value == "" {
			return t, c.errorf(ttl.Line, id, "TimeToLiveSpecification needs AttributeName")
		}
		t.TTL = &manifest.TTL{AttributeName: an.Value, Enabled: ttl.Get("Enabled") != nil && ttl.Get("Enabled").Value == "true"}
	}
	if ss := p.Get("StreamSpecification"); ss != nil {
		if v := ss.Get("StreamViewType"); v != nil {
			switch v.Value {
			case "KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES":
				t.StreamViewType = v.Value
			default:
				return t, c.errorf(v.Line, id, "StreamViewType %q must be KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES", v.Value)
			}
		}
	}
	return t, nil
}

func (c *compiler) throughput(n *Node, id string) (*manifest.Throughput, error) {
	r, w := n.Get("ReadCapacityUnits"), n.Get("WriteCapacityUnits")
	if r == nil || w == nil {
		return nil, c.errorf(n.Line, id, "ProvisionedThroughput needs ReadCapacityUnits and WriteCapacityUnits")
	}
	rv, err1 := strconv.ParseInt(r.Value, 10, 64)
	wv, err2 := strconv.ParseInt(w.Value, 10, 64)
	if err1 != nil || err2 != nil || rv < 1 || wv < 1 {
		return nil, c.errorf(n.Line, id, "ProvisionedThroughput capacity units must be positive whole numbers")
	}
	return &manifest.Throughput{ReadCapacityUnits: rv, WriteCapacityUnits: wv}, nil
}

func (c *compiler) keySchema(n *Node, id, where string) ([]manifest.KeyElement, error) {
	if n.Kind != KindSeq || len(n.Items) == 0 || len(n.Items) > 2 {
		return nil, c.errorf(n.Line, id, "%s must list a HASH key and optionally a RANGE key", where)
	}
	var out []manifest.KeyElement
	for i, it := range n.Items {
		an, kt := it.Get("AttributeName"), it.Get("KeyType")
		if an == nil || kt == nil || an.Kind != KindScalar || kt.Kind != KindScalar {
			return nil, c.errorf(it.Line, id, "each %s entry needs AttributeName and KeyType", where)
		}
		want := "HASH"
		if i == 1 {
			want = "RANGE"
		}
		if kt.Value != want {
			return nil, c.errorf(kt.Line, id, "%s entry %d must have KeyType %s (HASH first, then RANGE)", where, i+1, want)
		}
		out = append(out, manifest.KeyElement{AttributeName: an.Value, KeyType: kt.Value})
	}
	return out, nil
}

func (c *compiler) indexes(n *Node, id, where string, needThroughput bool, used map[string]bool) ([]manifest.SecondaryIndex, error) {
	if n.Kind != KindSeq {
		return nil, c.errorf(n.Line, id, "%s must be a list", where)
	}
	var out []manifest.SecondaryIndex
	names := map[string]bool{}
	for _, it := range n.Items {
		in := it.Get("IndexName")
		if in == nil || in.Kind != KindScalar || in.Value == "" {
			return nil, c.errorf(it.Line, id, "each of %s needs an IndexName", where)
		}
		if names[in.Value] {
			return nil, c.errorf(in.Line, id, "index %s is declared twice", in.Value)
		}
		names[in.Value] = true
		ix := manifest.SecondaryIndex{IndexName: in.Value}
		ks := it.Get("KeySchema")
		if ks == nil {
			return nil, c.errorf(it.Line, id, "index %s has no KeySchema", in.Value)
		}
		var err error
		if ix.KeySchema, err = c.keySchema(ks, id, where+"."+in.Value+".KeySchema"); err != nil {
			return nil, err
		}
		for _, k := range ix.KeySchema {
			used[k.AttributeName] = true
		}
		pr := it.Get("Projection")
		ix.ProjectionType = "ALL"
		if pr != nil {
			if pt := pr.Get("ProjectionType"); pt != nil {
				switch pt.Value {
				case "ALL", "KEYS_ONLY", "INCLUDE":
					ix.ProjectionType = pt.Value
				default:
					return nil, c.errorf(pt.Line, id, "index %s: ProjectionType %q must be ALL, KEYS_ONLY or INCLUDE", in.Value, pt.Value)
				}
			}
			if ix.NonKeyAttributes, err = c.stringList(pr.Get("NonKeyAttributes"), id, "NonKeyAttributes"); err != nil {
				return nil, err
			}
		} else {
			return nil, c.errorf(it.Line, id, "index %s has no Projection (e.g. Projection: {ProjectionType: ALL})", in.Value)
		}
		if ix.ProjectionType == "INCLUDE" && len(ix.NonKeyAttributes) == 0 {
			return nil, c.errorf(pr.Line, id, "index %s: ProjectionType INCLUDE needs NonKeyAttributes", in.Value)
		}
		if pt := it.Get("ProvisionedThroughput"); pt != nil {
			if ix.ProvisionedThroughput, err = c.throughput(pt, id); err != nil {
				return nil, err
			}
		} else if needThroughput {
			return nil, c.errorf(it.Line, id, "index %s needs ProvisionedThroughput because the table's BillingMode is PROVISIONED", in.Value)
		}
		out = append(out, ix)
	}
	return out, nil
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// bucket compiles an AWS::S3::Bucket.
func (c *compiler) bucket(rs *Resource) (manifest.Bucket, error) {
	id := rs.LogicalID
	name, err := c.r.physicalName(id)
	if err != nil {
		return manifest.Bucket{}, err
	}
	b := manifest.Bucket{LogicalID: id, Name: name}
	if !bucketName.MatchString(name) || strings.Contains(name, "..") {
		line := rs.Line
		if n := rs.Properties.Get("BucketName"); n != nil {
			line = n.Line
		}
		return b, c.errorf(line, id, "bucket name %q is invalid: use 3 to 63 lower-case letters, digits, dots and hyphens", name)
	}
	p, err := c.resolveProps(rs, "")
	if err != nil {
		return b, err
	}
	if v := p.Get("VersioningConfiguration").Get("Status"); v != nil {
		if v.Value != "Enabled" && v.Value != "Suspended" {
			return b, c.errorf(v.Line, id, "VersioningConfiguration.Status %q must be Enabled or Suspended", v.Value)
		}
		b.Versioning = v.Value
	}
	if rules := p.Get("LifecycleConfiguration").Get("Rules"); rules != nil {
		if rules.Kind != KindSeq {
			return b, c.errorf(rules.Line, id, "LifecycleConfiguration.Rules must be a list")
		}
		for _, r := range rules.Items {
			lr, err := c.lifecycleRule(r, id)
			if err != nil {
				return b, err
			}
			b.Lifecycle = append(b.Lifecycle, lr)
		}
	}
	if rules := p.Get("CorsConfiguration").Get("CorsRules"); rules != nil {
		if rules.Kind != KindSeq {
			return b, c.errorf(rules.Line, id, "CorsConfiguration.CorsRules must be a list")
		}
		for _, r := range rules.Items {
			cr := manifest.CORSRule{}
			if v := r.Get("Id"); v != nil {
				cr.ID = v.Value
			}
			if cr.AllowedMethods, err = c.stringList(r.Get("AllowedMethods"), id, "AllowedMethods"); err != nil {
				return b, err
			}
			if cr.AllowedOrigins, err = c.stringList(r.Get("AllowedOrigins"), id, "AllowedOrigins"); err != nil {
				return b, err
			}
			if len(cr.AllowedMethods) == 0 || len(cr.AllowedOrigins) == 0 {
				return b, c.errorf(r.Line, id, "a CORS rule needs AllowedMethods and AllowedOrigins")
			}
			if cr.AllowedHeaders, err = c.stringList(r.Get("AllowedHeaders"), id, "AllowedHeaders"); err != nil {
				return b, err
			}
			if cr.ExposedHeaders, err = c.stringList(r.Get("ExposedHeaders"), id, "ExposedHeaders"); err != nil {
				return b, err
			}
			if v := r.Get("MaxAge"); v != nil {
				cr.MaxAge, _ = strconv.Atoi(v.Value)
			}
			b.CORS = append(b.CORS, cr)
		}
	}
	if nc := p.Get("NotificationConfiguration"); nc != nil {
		if err := c.notifications(nc, id, &b); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (c *compiler) lifecycleRule(r *Node, id string) (manifest.LifecycleRule, error) {
	lr := manifest.LifecycleRule{}
	st := r.Get("Status")
	if st == nil || (st.Value != "Enabled" && st.Value != "Disabled") {
		return lr, c.errorf(r.Line, id, "each lifecycle rule needs Status: Enabled or Disabled")
	}
	lr.Status = st.Value
	if v := r.Get("Id"); v != nil {
		lr.ID = v.Value
	}
	if v := r.Get("Prefix"); v != nil {
		lr.Prefix = v.Value
	}
	if tf := r.Get("TagFilters"); tf != nil && tf.Kind == KindSeq {
		lr.Tags = map[string]string{}
		for _, t := range tf.Items {
			k, v := t.Get("Key"), t.Get("Value")
			if k == nil || v == nil {
				return lr, c.errorf(t.Line, id, "each TagFilters entry needs Key and Value")
			}
			lr.Tags[k.Value] = v.Value
		}
	}
	days := func(n *Node, what string) (int, error) {
		if n == nil {
			return 0, nil
		}
		d, err := strconv.Atoi(n.Value)
		if err != nil || d < 1 {
			return 0, c.errorf(n.Line, id, "%s must be a positive number of days, got %q", what, n.Value)
		}
		return d, nil
	}
	var err error
	if lr.ExpirationInDays, err = days(r.Get("ExpirationInDays"), "ExpirationInDays"); err != nil {
		return lr, err
	}
	if v := r.Get("ExpirationDate"); v != nil {
		lr.ExpirationDate = v.Value
	}
	if lr.NoncurrentVersionExpirationInDays, err = days(r.Get("NoncurrentVersionExpiration").Get("NoncurrentDays"), "NoncurrentVersionExpiration.NoncurrentDays"); err != nil {
		return lr, err
	}
	if v := r.Get("NoncurrentVersionExpirationInDays"); v != nil {
		if lr.NoncurrentVersionExpirationInDays, err = days(v, "NoncurrentVersionExpirationInDays"); err != nil {
			return lr, err
		}
	}
	if lr.AbortIncompleteMultipartUploadDays, err = days(r.Get("AbortIncompleteMultipartUpload").Get("DaysAfterInitiation"), "AbortIncompleteMultipartUpload.DaysAfterInitiation"); err != nil {
		return lr, err
	}
	if v := r.Get("ExpiredObjectDeleteMarker"); v != nil {
		lr.ExpiredObjectDeleteMarker = v.Value == "true"
	}
	if r.Get("Transitions") != nil || r.Get("Transition") != nil {
		c.warnf(r.Line, id, "lifecycle Transitions (storage classes) have no meaning locally; ignored")
	}
	if lr.ExpirationInDays == 0 && lr.ExpirationDate == "" && lr.NoncurrentVersionExpirationInDays == 0 && lr.AbortIncompleteMultipartUploadDays == 0 && !lr.ExpiredObjectDeleteMarker {
		c.warnf(r.Line, id, "lifecycle rule %q has no expiration action esb can apply", lr.ID)
	}
	return lr, nil
}

func (c *compiler) notifications(nc *Node, id string, b *manifest.Bucket) error {
	for _, kind := range []struct{ key, typ, target string }{
		{"LambdaConfigurations", "lambda", "Function"},
		{"QueueConfigurations", "queue", "Queue"},
		{"TopicConfigurations", "topic", "Topic"},
	} {
		list := nc.Get(kind.key)
		if list == nil {
			continue
		}
		if list.Kind != KindSeq {
			return c.errorf(list.Line, id, "NotificationConfiguration.%s must be a list", kind.key)
		}
		for _, it := range list.Items {
			ev, tgt := it.Get("Event"), it.Get(kind.target)
			if ev == nil || tgt == nil {
				return c.errorf(it.Line, id, "each %s entry needs Event and %s", kind.key, kind.target)
			}
			filter, err := c.s3Filter(it.Get("Filter"), id)
			if err != nil {
				return err
			}
			n := manifest.Notification{Type: kind.typ, Event: ev.Value, Filter: filter}
			if kind.typ == "lambda" {
				fn, ok := c.fnByARN[tgt.Value]
				if !ok {
					return c.errorf(tgt.Line, id, "notification target %s is not a function of this template (use !GetAtt <Function>.Arn)", tgt.Value)
				}
				n.Function = fn
			} else {
				n.Target = tgt.Value
				c.warnf(it.Line, id, "%s notifications are recorded but not delivered by esb", kind.typ)
			}
			b.Notifications = append(b.Notifications, n)
		}
	}
	if eb := nc.Get("EventBridgeConfiguration"); eb != nil {
		c.warnf(eb.Line, id, "EventBridge notifications are recorded but not delivered by esb")
		b.Notifications = append(b.Notifications, manifest.Notification{Type: "eventbridge"})
	}
	return nil
}
