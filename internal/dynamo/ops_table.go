package dynamo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/store"
)

// Wire shapes of table definitions.

type keySchemaElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

type attributeDefinition struct {
	AttributeName string `json:"AttributeName"`
	AttributeType string `json:"AttributeType"`
}

type projection struct {
	ProjectionType   string   `json:"ProjectionType,omitempty"`
	NonKeyAttributes []string `json:"NonKeyAttributes,omitempty"`
}

type throughput struct {
	ReadCapacityUnits  *int64 `json:"ReadCapacityUnits,omitempty"`
	WriteCapacityUnits *int64 `json:"WriteCapacityUnits,omitempty"`
}

type indexInput struct {
	IndexName             string             `json:"IndexName"`
	KeySchema             []keySchemaElement `json:"KeySchema"`
	Projection            *projection        `json:"Projection"`
	ProvisionedThroughput *throughput        `json:"ProvisionedThroughput"`
}

type streamSpec struct {
	StreamEnabled  bool   `json:"StreamEnabled"`
	StreamViewType string `json:"StreamViewType,omitempty"`
}

type createTableInput struct {
	TableName                 string                `json:"TableName"`
	KeySchema                 []keySchemaElement    `json:"KeySchema"`
	AttributeDefinitions      []attributeDefinition `json:"AttributeDefinitions"`
	GlobalSecondaryIndexes    []indexInput          `json:"GlobalSecondaryIndexes"`
	LocalSecondaryIndexes     []indexInput          `json:"LocalSecondaryIndexes"`
	BillingMode               string                `json:"BillingMode"`
	ProvisionedThroughput     *throughput           `json:"ProvisionedThroughput"`
	StreamSpecification       *streamSpec           `json:"StreamSpecification"`
	SSESpecification          map[string]any        `json:"SSESpecification"`
	Tags                      []store.Tag           `json:"Tags"`
	TableClass                string                `json:"TableClass"`
	DeletionProtectionEnabled bool                  `json:"DeletionProtectionEnabled"`
}

func parseKeySchema(ks []keySchemaElement, defs map[string]attr.Kind, field string) (store.KeyAttr, *store.KeyAttr, error) {
	var h store.KeyAttr
	if len(ks) == 0 {
		return h, nil, notNull(field)
	}
	if len(ks) > 2 {
		return h, nil, validation("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: Member must have length less than or equal to 2", ks, field)
	}
	for _, e := range ks {
		if e.KeyType != "HASH" && e.KeyType != "RANGE" {
			return h, nil, enumErr(field+".member.keyType", e.KeyType, "HASH, RANGE")
		}
	}
	if ks[0].KeyType != "HASH" {
		return h, nil, validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
	}
	if len(ks) == 2 && ks[1].KeyType != "RANGE" {
		return h, nil, validation("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
	}
	if len(ks) == 2 && ks[0].AttributeName == ks[1].AttributeName {
		return h, nil, validation("Both the Hash Key and the Range Key element in the KeySchema have the same name")
	}
	var missing []string
	for _, e := range ks {
		if _, ok := defs[e.AttributeName]; !ok {
			missing = append(missing, e.AttributeName)
		}
	}
	if missing != nil {
		names := make([]string, 0, len(defs))
		for n := range defs {
			names = append(names, n)
		}
		sort.Strings(names)
		return h, nil, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]",
			strings.Join(missing, ", "), strings.Join(names, ", "))
	}
	h = store.KeyAttr{Name: ks[0].AttributeName, Type: defs[ks[0].AttributeName]}
	if len(ks) == 2 {
		return h, &store.KeyAttr{Name: ks[1].AttributeName, Type: defs[ks[1].AttributeName]}, nil
	}
	return h, nil, nil
}

func parseDefs(in []attributeDefinition) (map[string]attr.Kind, error) {
	if len(in) == 0 {
		return nil, notNull("attributeDefinitions")
	}
	defs := map[string]attr.Kind{}
	for i, a := range in {
		k := attr.KindFromName(a.AttributeType)
		if k != attr.KindS && k != attr.KindN && k != attr.KindB {
			return nil, enumErr(fmt.Sprintf("attributeDefinitions.%d.member.attributeType", i+1), a.AttributeType, "B, N, S")
		}
		if _, dup := defs[a.AttributeName]; dup {
			return nil, validation("Cannot have two attributes with the same name")
		}
		defs[a.AttributeName] = k
	}
	return defs, nil
}

func parseIndex(in indexInput, defs map[string]attr.Kind, global bool, billing string, created int64) (store.IndexDef, error) {
	x := store.IndexDef{Name: in.IndexName, Global: global, Created: created}
	if err := validTableName("indexName", in.IndexName); err != nil {
		return x, err
	}
	h, r, err := parseKeySchema(in.KeySchema, defs, "keySchema")
	if err != nil {
		return x, err
	}
	x.Hash, x.Range = h, r
	if in.Projection == nil {
		return x, notNull("projection")
	}
	switch in.Projection.ProjectionType {
	case "ALL", "KEYS_ONLY":
		if len(in.Projection.NonKeyAttributes) > 0 {
			return x, validation("One or more parameter values were invalid: ProjectionType is %s, but NonKeyAttributes is specified", in.Projection.ProjectionType)
		}
	case "INCLUDE":
		if len(in.Projection.NonKeyAttributes) == 0 {
			return x, validation("One or more parameter values were invalid: NonKeyAttributes must not be empty")
		}
	case "":
		return x, validation("One or more parameter values were invalid: Unknown ProjectionType: null")
	default:
		return x, enumErr("projection.projectionType", in.Projection.ProjectionType, "ALL, INCLUDE, KEYS_ONLY")
	}
	x.ProjectionType = in.Projection.ProjectionType
	x.NonKey = in.Projection.NonKeyAttributes
	if global {
		if billing == "PROVISIONED" && in.ProvisionedThroughput == nil {
			return x, validation("One or more parameter values were invalid: ProvisionedThroughput must be specified for index: %s", in.IndexName)
		}
		if billing == "PAY_PER_REQUEST" && in.ProvisionedThroughput != nil {
			return x, validation("One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: %s when BillingMode is PAY_PER_REQUEST", in.IndexName)
		}
		if t := in.ProvisionedThroughput; t != nil && t.ReadCapacityUnits != nil && t.WriteCapacityUnits != nil {
			x.ReadCapacity, x.WriteCapacity = *t.ReadCapacityUnits, *t.WriteCapacityUnits
		}
	}
	return x, nil
}

func newTableID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Server) createTable(ctx context.Context, body, out []byte) ([]byte, error) {
	var in createTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := validTableName("tableName", in.TableName); err != nil {
		return nil, err
	}
	defs, err := parseDefs(in.AttributeDefinitions)
	if err != nil {
		return nil, err
	}
	h, r, err := parseKeySchema(in.KeySchema, defs, "keySchema")
	if err != nil {
		return nil, err
	}
	billing := in.BillingMode
	if billing == "" {
		billing = "PROVISIONED"
	}
	d := &store.TableDef{Name: in.TableName, ID: newTableID(), Created: s.db.Now(), Hash: h, Range: r, BillingMode: billing,
		TableClass: in.TableClass, DeletionProt: in.DeletionProtectionEnabled, Tags: in.Tags}
	switch billing {
	case "PROVISIONED":
		t := in.ProvisionedThroughput
		if t == nil || t.ReadCapacityUnits == nil || t.WriteCapacityUnits == nil {
			return nil, validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		if *t.ReadCapacityUnits < 1 || *t.WriteCapacityUnits < 1 {
			return nil, validation("1 validation error detected: Value '%d' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1", min(*t.ReadCapacityUnits, *t.WriteCapacityUnits))
		}
		d.ReadCapacity, d.WriteCapacity = *t.ReadCapacityUnits, *t.WriteCapacityUnits
	case "PAY_PER_REQUEST":
		if in.ProvisionedThroughput != nil {
			return nil, validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
	default:
		return nil, enumErr("billingMode", billing, "PROVISIONED, PAY_PER_REQUEST")
	}
	used := map[string]bool{h.Name: true}
	if r != nil {
		used[r.Name] = true
	}
	names := map[string]bool{}
	now := s.db.Now().Unix()
	for _, gi := range in.GlobalSecondaryIndexes {
		x, err := parseIndex(gi, defs, true, billing, now)
		if err != nil {
			return nil, err
		}
		if names[x.Name] {
			return nil, validation("One or more parameter values were invalid: Duplicate index name: %s", x.Name)
		}
		names[x.Name] = true
		used[x.Hash.Name] = true
		if x.Range != nil {
			used[x.Range.Name] = true
		}
		d.GSIs = append(d.GSIs, x)
	}
	if len(in.LocalSecondaryIndexes) > 0 && r == nil {
		return nil, validation("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
	}
	for _, li := range in.LocalSecondaryIndexes {
		x, err := parseIndex(li, defs, false, billing, now)
		if err != nil {
			return nil, err
		}
		if x.Range == nil {
			return nil, validation("One or more parameter values were invalid: Index KeySchema does not have a range key for index: %s", x.Name)
		}
		if x.Hash.Name != h.Name {
			return nil, validation("One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: %s. index hash key: %s, table hash key: %s", x.Name, x.Hash.Name, h.Name)
		}
		if names[x.Name] {
			return nil, validation("One or more parameter values were invalid: Duplicate index name: %s", x.Name)
		}
		names[x.Name] = true
		used[x.Range.Name] = true
		d.LSIs = append(d.LSIs, x)
	}
	if len(used) != len(defs) {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	for _, a := range in.AttributeDefinitions {
		d.Attributes = append(d.Attributes, store.KeyAttr{Name: a.AttributeName, Type: defs[a.AttributeName]})
	}
	if ss := in.StreamSpecification; ss != nil && ss.StreamEnabled {
		d.StreamEnabled, d.StreamView = true, ss.StreamViewType
	}
	if err := s.db.CreateTable(ctx, d); err != nil {
		if errors.Is(err, store.ErrTableExists) {
			return nil, dynamoErr("ResourceInUseException", "Table already exists: "+in.TableName)
		}
		return nil, err
	}
	desc := s.describe(d)
	return marshal(out, map[string]any{"TableDescription": desc})
}

// ---- describe ----

type indexDescription struct {
	IndexName             string             `json:"IndexName"`
	KeySchema             []keySchemaElement `json:"KeySchema"`
	Projection            projection         `json:"Projection"`
	IndexStatus           string             `json:"IndexStatus,omitempty"`
	ProvisionedThroughput *throughputDesc    `json:"ProvisionedThroughput,omitempty"`
	IndexSizeBytes        int64              `json:"IndexSizeBytes"`
	ItemCount             int64              `json:"ItemCount"`
	IndexArn              string             `json:"IndexArn"`
}

type throughputDesc struct {
	NumberOfDecreasesToday int64 `json:"NumberOfDecreasesToday"`
	ReadCapacityUnits      int64 `json:"ReadCapacityUnits"`
	WriteCapacityUnits     int64 `json:"WriteCapacityUnits"`
}

type tableDescription struct {
	TableName                 string                `json:"TableName"`
	TableId                   string                `json:"TableId"`
	TableArn                  string                `json:"TableArn"`
	TableStatus               string                `json:"TableStatus"`
	CreationDateTime          float64               `json:"CreationDateTime"`
	AttributeDefinitions      []attributeDefinition `json:"AttributeDefinitions"`
	KeySchema                 []keySchemaElement    `json:"KeySchema"`
	ProvisionedThroughput     throughputDesc        `json:"ProvisionedThroughput"`
	BillingModeSummary        map[string]any        `json:"BillingModeSummary,omitempty"`
	TableSizeBytes            int64                 `json:"TableSizeBytes"`
	ItemCount                 int64                 `json:"ItemCount"`
	GlobalSecondaryIndexes    []indexDescription    `json:"GlobalSecondaryIndexes,omitempty"`
	LocalSecondaryIndexes     []indexDescription    `json:"LocalSecondaryIndexes,omitempty"`
	StreamSpecification       *streamSpec           `json:"StreamSpecification,omitempty"`
	DeletionProtectionEnabled bool                  `json:"DeletionProtectionEnabled"`
	TableClassSummary         map[string]any        `json:"TableClassSummary,omitempty"`
}

func keySchemaOut(h store.KeyAttr, r *store.KeyAttr) []keySchemaElement {
	ks := []keySchemaElement{{AttributeName: h.Name, KeyType: "HASH"}}
	if r != nil {
		ks = append(ks, keySchemaElement{AttributeName: r.Name, KeyType: "RANGE"})
	}
	return ks
}

func (s *Server) tableArn(name string) string {
	return "arn:aws:dynamodb:" + s.cfg.Region + ":" + s.cfg.AccountID + ":table/" + name
}

func (s *Server) describe(d *store.TableDef) *tableDescription {
	var count, size int64
	_ = s.db.View(func(r *store.ReadTx) error {
		count, size = r.Stats(d)
		return nil
	})
	desc := &tableDescription{
		TableName: d.Name, TableId: d.ID, TableArn: s.tableArn(d.Name), TableStatus: "ACTIVE",
		CreationDateTime:      float64(d.Created.UnixMilli()) / 1000,
		KeySchema:             keySchemaOut(d.Hash, d.Range),
		ProvisionedThroughput: throughputDesc{ReadCapacityUnits: d.ReadCapacity, WriteCapacityUnits: d.WriteCapacity},
		TableSizeBytes:        size, ItemCount: count, DeletionProtectionEnabled: d.DeletionProt,
	}
	for _, a := range d.Attributes {
		desc.AttributeDefinitions = append(desc.AttributeDefinitions, attributeDefinition{AttributeName: a.Name, AttributeType: a.Type.String()})
	}
	if d.BillingMode == "PAY_PER_REQUEST" {
		desc.BillingModeSummary = map[string]any{"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": desc.CreationDateTime}
	}
	if d.TableClass != "" {
		desc.TableClassSummary = map[string]any{"TableClass": d.TableClass}
	}
	for _, x := range d.Indexes() {
		xd := indexDescription{
			IndexName: x.Name, KeySchema: keySchemaOut(x.Hash, x.Range),
			Projection: projection{ProjectionType: x.ProjectionType, NonKeyAttributes: x.NonKey},
			IndexArn:   s.tableArn(d.Name) + "/index/" + x.Name,
			// Index sizes are reported as the table's, an upper bound.
			IndexSizeBytes: size, ItemCount: count,
		}
		if x.Global {
			xd.IndexStatus = "ACTIVE"
			xd.ProvisionedThroughput = &throughputDesc{ReadCapacityUnits: x.ReadCapacity, WriteCapacityUnits: x.WriteCapacity}
			desc.GlobalSecondaryIndexes = append(desc.GlobalSecondaryIndexes, xd)
		} else {
			desc.LocalSecondaryIndexes = append(desc.LocalSecondaryIndexes, xd)
		}
	}
	if d.StreamEnabled {
		desc.StreamSpecification = &streamSpec{StreamEnabled: true, StreamViewType: d.StreamView}
	}
	return desc
}

type tableNameInput struct {
	TableName string `json:"TableName"`
}

func (s *Server) describeTable(ctx context.Context, body, out []byte) ([]byte, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := validTableName("tableName", in.TableName); err != nil {
		return nil, err
	}
	d := s.db.Table(in.TableName)
	if d == nil {
		return nil, dynamoErr("ResourceNotFoundException", "Requested resource not found: Table: "+in.TableName+" not found")
	}
	return marshal(out, map[string]any{"Table": s.describe(d)})
}

func (s *Server) deleteTable(ctx context.Context, body, out []byte) ([]byte, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := validTableName("tableName", in.TableName); err != nil {
		return nil, err
	}
	d := s.db.Table(in.TableName)
	if d == nil {
		return nil, dynamoErr("ResourceNotFoundException", "Requested resource not found: Table: "+in.TableName+" not found")
	}
	if d.DeletionProt {
		return nil, validation("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.")
	}
	desc := s.describe(d)
	if _, err := s.db.DeleteTable(ctx, in.TableName); err != nil {
		if errors.Is(err, store.ErrTableNotFound) {
			return nil, dynamoErr("ResourceNotFoundException", "Requested resource not found: Table: "+in.TableName+" not found")
		}
		return nil, err
	}
	desc.TableStatus = "DELETING"
	return marshal(out, map[string]any{"TableDescription": desc})
}

type listTablesInput struct {
	ExclusiveStartTableName string `json:"ExclusiveStartTableName"`
	Limit                   *int   `json:"Limit"`
}

func (s *Server) listTables(ctx context.Context, body, out []byte) ([]byte, error) {
	var in listTablesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 100 {
			bound := "greater than or equal to 1"
			if *in.Limit > 100 {
				bound = "less than or equal to 100"
			}
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value %s", *in.Limit, bound)
		}
		limit = *in.Limit
	}
	var names []string
	for _, d := range s.db.Tables() {
		if d.Name > in.ExclusiveStartTableName {
			names = append(names, d.Name)
		}
	}
	sort.Strings(names)
	res := map[string]any{}
	if len(names) > limit {
		names = names[:limit]
		res["LastEvaluatedTableName"] = names[limit-1]
	}
	if names == nil {
		names = []string{}
	}
	res["TableNames"] = names
	return marshal(out, res)
}

// ---- UpdateTable ----

type gsiUpdate struct {
	Create *indexInput `json:"Create"`
	Delete *struct {
		IndexName string `json:"IndexName"`
	} `json:"Delete"`
	Update *struct {
		IndexName             string      `json:"IndexName"`
		ProvisionedThroughput *throughput `json:"ProvisionedThroughput"`
	} `json:"Update"`
}

type updateTableInput struct {
	TableName                   string                `json:"TableName"`
	AttributeDefinitions        []attributeDefinition `json:"AttributeDefinitions"`
	BillingMode                 string                `json:"BillingMode"`
	ProvisionedThroughput       *throughput           `json:"ProvisionedThroughput"`
	GlobalSecondaryIndexUpdates []gsiUpdate           `json:"GlobalSecondaryIndexUpdates"`
	StreamSpecification         *streamSpec           `json:"StreamSpecification"`
	DeletionProtectionEnabled   *bool                 `json:"DeletionProtectionEnabled"`
	TableClass                  string                `json:"TableClass"`
	SSESpecification            map[string]any        `json:"SSESpecification"`
}

func (s *Server) updateTable(ctx context.Context, body, out []byte) ([]byte, error) {
	var in updateTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := validTableName("tableName", in.TableName); err != nil {
		return nil, err
	}
	if in.BillingMode == "" && in.ProvisionedThroughput == nil && len(in.GlobalSecondaryIndexUpdates) == 0 &&
		in.StreamSpecification == nil && in.DeletionProtectionEnabled == nil && in.TableClass == "" && in.SSESpecification == nil {
		return nil, validation("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
	}
	notFoundErr := dynamoErr("ResourceNotFoundException", "Requested resource not found: Table: "+in.TableName+" not found")
	d, err := s.db.UpdateTable(ctx, in.TableName, func(cur *store.TableDef) (*store.TableDef, error) {
		next := *cur
		next.GSIs = append([]store.IndexDef(nil), cur.GSIs...)
		next.Attributes = append([]store.KeyAttr(nil), cur.Attributes...)
		defs := map[string]attr.Kind{}
		for _, a := range cur.Attributes {
			defs[a.Name] = a.Type
		}
		if in.AttributeDefinitions != nil {
			nd, err := parseDefs(in.AttributeDefinitions)
			if err != nil {
				return nil, err
			}
			for n, k := range nd {
				if old, ok := defs[n]; ok && old != k {
					return nil, validation("One or more parameter values were invalid: Attribute %s is already defined with a different type", n)
				}
				if _, ok := defs[n]; !ok {
					defs[n] = k
					next.Attributes = append(next.Attributes, store.KeyAttr{Name: n, Type: k})
				}
			}
		}
		if in.BillingMode != "" {
			if in.BillingMode != "PROVISIONED" && in.BillingMode != "PAY_PER_REQUEST" {
				return nil, enumErr("billingMode", in.BillingMode, "PROVISIONED, PAY_PER_REQUEST")
			}
			next.BillingMode = in.BillingMode
			if in.BillingMode == "PAY_PER_REQUEST" {
				next.ReadCapacity, next.WriteCapacity = 0, 0
			}
		}
		if t := in.ProvisionedThroughput; t != nil {
			if next.BillingMode == "PAY_PER_REQUEST" {
				return nil, validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
			}
			if t.ReadCapacityUnits != nil {
				next.ReadCapacity = *t.ReadCapacityUnits
			}
			if t.WriteCapacityUnits != nil {
				next.WriteCapacity = *t.WriteCapacityUnits
			}
		}
		if in.DeletionProtectionEnabled != nil {
			next.DeletionProt = *in.DeletionProtectionEnabled
		}
		if in.TableClass != "" {
			next.TableClass = in.TableClass
		}
		if ss := in.StreamSpecification; ss != nil {
			next.StreamEnabled, next.StreamView = ss.StreamEnabled, ss.StreamViewType
		}
		for _, u := range in.GlobalSecondaryIndexUpdates {
			switch {
			case u.Create != nil:
				if next.Index(u.Create.IndexName) != nil {
					return nil, validation("One or more parameter values were invalid: Index with name: %s already exists", u.Create.IndexName)
				}
				x, err := parseIndex(*u.Create, defs, true, next.BillingMode, s.db.Now().Unix())
				if err != nil {
					return nil, err
				}
				next.GSIs = append(next.GSIs, x)
			case u.Delete != nil:
				found := false
				for i, x := range next.GSIs {
					if x.Name == u.Delete.IndexName {
						next.GSIs = append(next.GSIs[:i:i], next.GSIs[i+1:]...)
						found = true
						break
					}
				}
				if !found {
					return nil, dynamoErr("ResourceNotFoundException", "Requested resource not found: Table: "+in.TableName+", Index: "+u.Delete.IndexName+" not found")
				}
			case u.Update != nil:
				found := false
				for i := range next.GSIs {
					if next.GSIs[i].Name == u.Update.IndexName {
						found = true
						if t := u.Update.ProvisionedThroughput; t != nil && t.ReadCapacityUnits != nil && t.WriteCapacityUnits != nil {
							next.GSIs[i].ReadCapacity, next.GSIs[i].WriteCapacity = *t.ReadCapacityUnits, *t.WriteCapacityUnits
						}
					}
				}
				if !found {
					return nil, dynamoErr("ResourceNotFoundException", "Requested resource not found: Table: "+in.TableName+", Index: "+u.Update.IndexName+" not found")
				}
			default:
				return nil, validation("One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update or GlobalSecondaryIndexUpdate.Delete must be specified")
			}
		}
		return &next, nil
	})
	if err != nil {
		if errors.Is(err, store.ErrTableNotFound) {
			return nil, notFoundErr
		}
		return nil, err
	}
	return marshal(out, map[string]any{"TableDescription": s.describe(d)})
}

// ---- TTL ----

type ttlSpec struct {
	Enabled       bool   `json:"Enabled"`
	AttributeName string `json:"AttributeName"`
}

type updateTTLInput struct {
	TableName               string   `json:"TableName"`
	TimeToLiveSpecification *ttlSpec `json:"TimeToLiveSpecification"`
}

func (s *Server) updateTimeToLive(ctx context.Context, body, out []byte) ([]byte, error) {
	var in updateTTLInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := validTableName("tableName", in.TableName); err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	if spec == nil {
		return nil, notNull("timeToLiveSpecification")
	}
	if spec.AttributeName == "" {
		return nil, notNull("timeToLiveSpecification.attributeName")
	}
	_, err := s.db.UpdateTable(ctx, in.TableName, func(cur *store.TableDef) (*store.TableDef, error) {
		if spec.Enabled && cur.TTLEnabled {
			return nil, validation("TimeToLive is already enabled")
		}
		if !spec.Enabled && !cur.TTLEnabled {
			return nil, validation("TimeToLive is already disabled")
		}
		if !spec.Enabled && cur.TTLAttr != spec.AttributeName {
			return nil, validation("TimeToLive is active on a different AttributeName: current AttributeName is %s", cur.TTLAttr)
		}
		next := *cur
		next.TTLEnabled = spec.Enabled
		next.TTLAttr = spec.AttributeName
		return &next, nil
	})
	if err != nil {
		if errors.Is(err, store.ErrTableNotFound) {
			return nil, notFound()
		}
		return nil, err
	}
	return marshal(out, map[string]any{"TimeToLiveSpecification": spec})
}

func (s *Server) describeTimeToLive(ctx context.Context, body, out []byte) ([]byte, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.lookupTable(in.TableName)
	if err != nil {
		return nil, err
	}
	desc := map[string]any{"TimeToLiveStatus": "DISABLED"}
	if d.TTLEnabled {
		desc = map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": d.TTLAttr}
	}
	return marshal(out, map[string]any{"TimeToLiveDescription": desc})
}

// ---- tags, limits, endpoints ----

type tagInput struct {
	ResourceArn string      `json:"ResourceArn"`
	Tags        []store.Tag `json:"Tags"`
	TagKeys     []string    `json:"TagKeys"`
	NextToken   string      `json:"NextToken"`
}

func (s *Server) tableFromArn(arn string) (*store.TableDef, error) {
	if arn == "" {
		return nil, notNull("resourceArn")
	}
	i := strings.Index(arn, ":table/")
	if i < 0 {
		return nil, validation("Invalid TableArn: Invalid ResourceArn provided as input %s", arn)
	}
	name := arn[i+len(":table/"):]
	if j := strings.IndexByte(name, '/'); j >= 0 {
		name = name[:j]
	}
	d := s.db.Table(name)
	if d == nil {
		return nil, dynamoErr("ResourceNotFoundException", "Requested resource not found: ResourcArn: "+arn+" not found")
	}
	return d, nil
}

func (s *Server) tagResource(ctx context.Context, body, out []byte) ([]byte, error) {
	var in tagInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.tableFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = s.db.UpdateTable(ctx, d.Name, func(cur *store.TableDef) (*store.TableDef, error) {
		next := *cur
		next.Tags = nil
		set := map[string]string{}
		for _, t := range cur.Tags {
			set[t.Key] = t.Value
		}
		for _, t := range in.Tags {
			set[t.Key] = t.Value
		}
		for k, v := range set {
			next.Tags = append(next.Tags, store.Tag{Key: k, Value: v})
		}
		sort.Slice(next.Tags, func(i, j int) bool { return next.Tags[i].Key < next.Tags[j].Key })
		return &next, nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, "{}"...), nil
}

func (s *Server) untagResource(ctx context.Context, body, out []byte) ([]byte, error) {
	var in tagInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.tableFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = s.db.UpdateTable(ctx, d.Name, func(cur *store.TableDef) (*store.TableDef, error) {
		next := *cur
		next.Tags = nil
		drop := map[string]bool{}
		for _, k := range in.TagKeys {
			drop[k] = true
		}
		for _, t := range cur.Tags {
			if !drop[t.Key] {
				next.Tags = append(next.Tags, t)
			}
		}
		return &next, nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, "{}"...), nil
}

func (s *Server) listTagsOfResource(ctx context.Context, body, out []byte) ([]byte, error) {
	var in tagInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.tableFromArn(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	tags := d.Tags
	if tags == nil {
		tags = []store.Tag{}
	}
	return marshal(out, map[string]any{"Tags": tags})
}

func (s *Server) describeLimits(ctx context.Context, body, out []byte) ([]byte, error) {
	return marshal(out, map[string]any{
		"AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
		"TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000,
	})
}

func (s *Server) describeEndpoints(ctx context.Context, body, out []byte) ([]byte, error) {
	return marshal(out, map[string]any{"Endpoints": []map[string]any{{"Address": "dynamodb." + s.cfg.Region + ".amazonaws.com", "CachePeriodInMinutes": 1440}}})
}
