// Package provision creates and updates DynamoDB tables declared in
// resources.yml, idempotently, against any DynamoDB-compatible endpoint (the
// embedded `esb dynamodb`, DynamoDB Local, ScyllaDB Alternator or AWS).
//
// An unchanged table is left alone; added, changed or removed global secondary
// indexes are created or dropped (their data is derived from the table);
// TTL and billing mode follow the template; a changed key schema or changed
// local secondary indexes cannot be applied in place and are reported as
// needing `esb up --reset`.
package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// API is the part of the DynamoDB client the provisioner uses.
type API interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTable(ctx context.Context, in *dynamodb.UpdateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// Endpoint says where the tables live.
type Endpoint struct {
	// URL is the endpoint, e.g. http://127.0.0.1:8001 (embedded) or the value of DYNAMODB_ENDPOINT.
	URL string
	// Region defaults to us-east-1.
	Region string
	// AccessKeyID and SecretAccessKey sign requests; "esb"/"esb" when empty
	// (the embedded server accepts any when it has no credentials configured).
	AccessKeyID, SecretAccessKey string
}

// NewClient returns a DynamoDB client for the endpoint.
func NewClient(ep Endpoint) *dynamodb.Client {
	region, ak, sk := ep.Region, ep.AccessKeyID, ep.SecretAccessKey
	if region == "" {
		region = "us-east-1"
	}
	if ak == "" {
		ak, sk = "esb", "esb"
	}
	return dynamodb.New(dynamodb.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint: aws.String(ep.URL),
	})
}

// Action is what happened to one table.
type Action string

// Actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Result reports one table.
type Result struct {
	Table   string
	Action  Action
	Changes []string // e.g. "added index byEmail", "enabled TTL on expiresAt"
}

// ErrNeedsReset marks changes that need the table recreated.
var ErrNeedsReset = errors.New("needs `esb up --reset`")

// Options tune provisioning.
type Options struct {
	// WaitTimeout bounds how long to wait for a table or index to become ACTIVE (default 5 minutes).
	WaitTimeout time.Duration
	// PollInterval between DescribeTable calls while waiting (default 100 ms).
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Tables provisions every table; it stops at the first error.
func Tables(ctx context.Context, api API, tables []manifest.Table, opts Options) ([]Result, error) {
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 5 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &provisioner{api: api, opts: opts}
	var out []Result
	for _, t := range tables {
		if err := validate(t); err != nil {
			return out, err
		}
		r, err := p.table(ctx, t)
		if err != nil {
			return out, fmt.Errorf("provision table %s: %w", t.Name, err)
		}
		opts.Logger.Info("dynamodb table", "table", t.Name, "action", r.Action, "changes", strings.Join(r.Changes, "; "))
		out = append(out, r)
	}
	return out, nil
}

func validate(t manifest.Table) error {
	where := fmt.Sprintf("resources.yml: table %s (%s)", t.Name, t.LogicalID)
	if t.Name == "" {
		return fmt.Errorf("resources.yml: table %s has no name; set TableName in the template", t.LogicalID)
	}
	if len(t.KeySchema) == 0 {
		return fmt.Errorf("%s: key_schema is empty; declare KeySchema (or PrimaryKey for a SimpleTable)", where)
	}
	defs := map[string]bool{}
	for _, a := range t.AttributeDefinitions {
		defs[a.AttributeName] = true
	}
	check := func(ks []manifest.KeyElement, what string) error {
		for _, k := range ks {
			if !defs[k.AttributeName] {
				return fmt.Errorf("%s: %s key %s is missing from attribute_definitions; add it to AttributeDefinitions", where, what, k.AttributeName)
			}
		}
		return nil
	}
	if err := check(t.KeySchema, "table"); err != nil {
		return err
	}
	for _, x := range append(append([]manifest.SecondaryIndex(nil), t.GlobalSecondaryIndexes...), t.LocalSecondaryIndexes...) {
		if err := check(x.KeySchema, "index "+x.IndexName); err != nil {
			return err
		}
	}
	return nil
}

type provisioner struct {
	api  API
	opts Options
}

func billing(t manifest.Table) types.BillingMode {
	if t.BillingMode == "PROVISIONED" || (t.BillingMode == "" && t.ProvisionedThroughput != nil) {
		return types.BillingModeProvisioned
	}
	return types.BillingModePayPerRequest
}

func throughput(t *manifest.Throughput, fallback *manifest.Throughput) *types.ProvisionedThroughput {
	if t == nil {
		t = fallback
	}
	if t == nil {
		t = &manifest.Throughput{ReadCapacityUnits: 5, WriteCapacityUnits: 5}
	}
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(t.ReadCapacityUnits), WriteCapacityUnits: aws.Int64(t.WriteCapacityUnits)}
}

func keySchema(ks []manifest.KeyElement) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, len(ks))
	for i, k := range ks {
		out[i] = types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)}
	}
	return out
}

func projectionOf(x manifest.SecondaryIndex) *types.Projection {
	pt := x.ProjectionType
	if pt == "" {
		pt = "ALL"
	}
	p := &types.Projection{ProjectionType: types.ProjectionType(pt)}
	if len(x.NonKeyAttributes) > 0 {
		p.NonKeyAttributes = x.NonKeyAttributes
	}
	return p
}

// usedDefinitions returns the attribute definitions the key schemas use
// (DynamoDB rejects unused ones).
func usedDefinitions(t manifest.Table, gsis []manifest.SecondaryIndex) []types.AttributeDefinition {
	used := map[string]bool{}
	for _, k := range t.KeySchema {
		used[k.AttributeName] = true
	}
	for _, x := range append(append([]manifest.SecondaryIndex(nil), gsis...), t.LocalSecondaryIndexes...) {
		for _, k := range x.KeySchema {
			used[k.AttributeName] = true
		}
	}
	var out []types.AttributeDefinition
	for _, a := range t.AttributeDefinitions {
		if used[a.AttributeName] {
			out = append(out, types.AttributeDefinition{AttributeName: aws.String(a.AttributeName), AttributeType: types.ScalarAttributeType(a.AttributeType)})
			delete(used, a.AttributeName)
		}
	}
	return out
}

func (p *provisioner) table(ctx context.Context, t manifest.Table) (Result, error) {
	res := Result{Table: t.Name}
	desc, err := p.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.Name)})
	var rnf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &rnf):
		if err := p.create(ctx, t); err != nil {
			return res, err
		}
		res.Action = Created
		if t.TTL != nil && t.TTL.Enabled {
			if err := p.setTTL(ctx, t.Name, t.TTL.AttributeName, true); err != nil {
				return res, err
			}
			res.Changes = append(res.Changes, "enabled TTL on "+t.TTL.AttributeName)
		}
		return res, nil
	case err != nil:
		return res, fmt.Errorf("describe: %w", err)
	}
	cur := desc.Table
	if err := checkKeys(t, cur); err != nil {
		return res, err
	}
	changes, err := p.update(ctx, t, cur)
	if err != nil {
		return res, err
	}
	ttlChanges, err := p.syncTTL(ctx, t)
	if err != nil {
		return res, err
	}
	res.Changes = append(changes, ttlChanges...)
	res.Action = Unchanged
	if len(res.Changes) > 0 {
		res.Action = Updated
	}
	return res, nil
}

func (p *provisioner) create(ctx context.Context, t manifest.Table) error {
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(t.Name),
		KeySchema:            keySchema(t.KeySchema),
		AttributeDefinitions: usedDefinitions(t, t.GlobalSecondaryIndexes),
		BillingMode:          billing(t),
	}
	prov := in.BillingMode == types.BillingModeProvisioned
	if prov {
		in.ProvisionedThroughput = throughput(t.ProvisionedThroughput, nil)
	}
	for _, x := range t.GlobalSecondaryIndexes {
		g := types.GlobalSecondaryIndex{IndexName: aws.String(x.IndexName), KeySchema: keySchema(x.KeySchema), Projection: projectionOf(x)}
		if prov {
			g.ProvisionedThroughput = throughput(x.ProvisionedThroughput, t.ProvisionedThroughput)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, g)
	}
	for _, x := range t.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{IndexName: aws.String(x.IndexName), KeySchema: keySchema(x.KeySchema), Projection: projectionOf(x)})
	}
	if t.StreamViewType != "" {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(t.StreamViewType)}
	}
	if _, err := p.api.CreateTable(ctx, in); err != nil {
		var inUse *types.ResourceInUseException
		if !errors.As(err, &inUse) { // created concurrently: fine, wait for it
			return fmt.Errorf("create: %w", err)
		}
	}
	return p.waitActive(ctx, t.Name)
}

func describeKeys(ks []types.KeySchemaElement, defs map[string]string) string {
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s %s (%s)", aws.ToString(k.AttributeName), k.KeyType, defs[aws.ToString(k.AttributeName)])
	}
	return strings.Join(parts, ", ")
}

func manifestKeys(ks []manifest.KeyElement, defs map[string]string) string {
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s %s (%s)", k.AttributeName, k.KeyType, defs[k.AttributeName])
	}
	return strings.Join(parts, ", ")
}

// checkKeys reports changes that DynamoDB cannot apply to an existing table.
func checkKeys(t manifest.Table, cur *types.TableDescription) error {
	curDefs := map[string]string{}
	for _, a := range cur.AttributeDefinitions {
		curDefs[aws.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	wantDefs := map[string]string{}
	for _, a := range t.AttributeDefinitions {
		wantDefs[a.AttributeName] = a.AttributeType
	}
	have, want := describeKeys(cur.KeySchema, curDefs), manifestKeys(t.KeySchema, wantDefs)
	if have != want {
		return fmt.Errorf("key schema changed from [%s] to [%s]: %w (recreates the table and deletes its items)", have, want, ErrNeedsReset)
	}
	haveL := map[string]string{}
	for _, x := range cur.LocalSecondaryIndexes {
		haveL[aws.ToString(x.IndexName)] = describeKeys(x.KeySchema, curDefs) + "/" + projString(x.Projection)
	}
	wantL := map[string]string{}
	for _, x := range t.LocalSecondaryIndexes {
		pj := projectionOf(x)
		wantL[x.IndexName] = manifestKeys(x.KeySchema, wantDefs) + "/" + projString(pj)
	}
	if fmt.Sprint(sortedMap(haveL)) != fmt.Sprint(sortedMap(wantL)) {
		return fmt.Errorf("local secondary indexes changed (they are fixed when a table is created): %w (recreates the table and deletes its items)", ErrNeedsReset)
	}
	return nil
}

func sortedMap(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func projString(p *types.Projection) string {
	if p == nil {
		return ""
	}
	attrs := append([]string(nil), p.NonKeyAttributes...)
	sort.Strings(attrs)
	return string(p.ProjectionType) + strings.Join(attrs, ",")
}

// update brings GSIs and billing mode in line with the template, one index
// change at a time (as DynamoDB requires), waiting for each.
func (p *provisioner) update(ctx context.Context, t manifest.Table, cur *types.TableDescription) ([]string, error) {
	var changes []string
	curDefs := map[string]string{}
	for _, a := range cur.AttributeDefinitions {
		curDefs[aws.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	wantDefs := map[string]string{}
	for _, a := range t.AttributeDefinitions {
		wantDefs[a.AttributeName] = a.AttributeType
	}
	want := billing(t)
	curBilling := types.BillingModeProvisioned
	if cur.BillingModeSummary != nil && cur.BillingModeSummary.BillingMode != "" {
		curBilling = cur.BillingModeSummary.BillingMode
	}
	if want != curBilling {
		in := &dynamodb.UpdateTableInput{TableName: aws.String(t.Name), BillingMode: want}
		if want == types.BillingModeProvisioned {
			in.ProvisionedThroughput = throughput(t.ProvisionedThroughput, nil)
		}
		if _, err := p.api.UpdateTable(ctx, in); err != nil {
			return changes, fmt.Errorf("set billing mode %s: %w", want, err)
		}
		changes = append(changes, "billing mode "+string(want))
		if err := p.waitActive(ctx, t.Name); err != nil {
			return changes, err
		}
	}
	existing := map[string]string{}
	for _, x := range cur.GlobalSecondaryIndexes {
		existing[aws.ToString(x.IndexName)] = describeKeys(x.KeySchema, curDefs) + "/" + projString(x.Projection)
	}
	wanted := map[string]manifest.SecondaryIndex{}
	for _, x := range t.GlobalSecondaryIndexes {
		wanted[x.IndexName] = x
	}
	var drop, add []string
	for name, sig := range existing {
		x, ok := wanted[name]
		if !ok {
			drop = append(drop, name)
			continue
		}
		if sig != manifestKeys(x.KeySchema, wantDefs)+"/"+projString(projectionOf(x)) {
			drop = append(drop, name)
			add = append(add, name)
		}
	}
	for name := range wanted {
		if _, ok := existing[name]; !ok {
			add = append(add, name)
		}
	}
	sort.Strings(drop)
	sort.Strings(add)
	for _, name := range drop {
		_, err := p.api.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(t.Name),
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Delete: &types.DeleteGlobalSecondaryIndexAction{IndexName: aws.String(name)}}}})
		if err != nil {
			return changes, fmt.Errorf("drop index %s: %w", name, err)
		}
		if err := p.waitIndexGone(ctx, t.Name, name); err != nil {
			return changes, err
		}
		changes = append(changes, "dropped index "+name)
	}
	for _, name := range add {
		x := wanted[name]
		g := &types.CreateGlobalSecondaryIndexAction{IndexName: aws.String(name), KeySchema: keySchema(x.KeySchema), Projection: projectionOf(x)}
		if want == types.BillingModeProvisioned {
			g.ProvisionedThroughput = throughput(x.ProvisionedThroughput, t.ProvisionedThroughput)
		}
		_, err := p.api.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(t.Name),
			AttributeDefinitions:        usedDefinitions(t, []manifest.SecondaryIndex{x}),
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: g}}})
		if err != nil {
			return changes, fmt.Errorf("add index %s: %w", name, err)
		}
		if err := p.waitActive(ctx, t.Name); err != nil {
			return changes, err
		}
		changes = append(changes, "added index "+name)
	}
	return changes, nil
}

func (p *provisioner) syncTTL(ctx context.Context, t manifest.Table) ([]string, error) {
	d, err := p.api.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(t.Name)})
	if err != nil {
		return nil, fmt.Errorf("describe TTL: %w", err)
	}
	on := false
	attr := ""
	if td := d.TimeToLiveDescription; td != nil {
		on = td.TimeToLiveStatus == types.TimeToLiveStatusEnabled || td.TimeToLiveStatus == types.TimeToLiveStatusEnabling
		attr = aws.ToString(td.AttributeName)
	}
	wantOn := t.TTL != nil && t.TTL.Enabled
	var changes []string
	if on && (!wantOn || attr != t.TTL.AttributeName) {
		if err := p.setTTL(ctx, t.Name, attr, false); err != nil {
			return changes, err
		}
		changes = append(changes, "disabled TTL on "+attr)
	}
	if wantOn && (!on || attr != t.TTL.AttributeName) {
		if err := p.setTTL(ctx, t.Name, t.TTL.AttributeName, true); err != nil {
			return changes, err
		}
		changes = append(changes, "enabled TTL on "+t.TTL.AttributeName)
	}
	return changes, nil
}

func (p *provisioner) setTTL(ctx context.Context, table, attr string, on bool) error {
	_, err := p.api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(on)}})
	if err != nil {
		return fmt.Errorf("set TTL on %s to %v: %w", attr, on, err)
	}
	return nil
}

func (p *provisioner) poll(ctx context.Context, what string, done func(*types.TableDescription) bool, table string) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.WaitTimeout)
	defer cancel()
	for {
		d, err := p.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if done(d.Table) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(p.opts.PollInterval):
		}
	}
}

func (p *provisioner) waitActive(ctx context.Context, table string) error {
	return p.poll(ctx, "table "+table+" to become ACTIVE", func(d *types.TableDescription) bool {
		if d.TableStatus != types.TableStatusActive {
			return false
		}
		for _, g := range d.GlobalSecondaryIndexes {
			if g.IndexStatus != types.IndexStatusActive {
				return false
			}
		}
		return true
	}, table)
}

func (p *provisioner) waitIndexGone(ctx context.Context, table, index string) error {
	return p.poll(ctx, "index "+index+" to be dropped", func(d *types.TableDescription) bool {
		for _, g := range d.GlobalSecondaryIndexes {
			if aws.ToString(g.IndexName) == index {
				return false
			}
		}
		return d.TableStatus == types.TableStatusActive
	}, table)
}
