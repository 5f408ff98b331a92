// Package sam compiles an AWS SAM template (template.yaml) into esb's build
// manifests: functions.yml, routing.yml and resources.yml (package manifest).
//
// It parses YAML with the short-form tags (!Ref, !Sub, …) and the long forms,
// resolves Parameters (overridden by generator.yml), Conditions, Mappings,
// pseudo parameters and intrinsic functions, merges Globals the way SAM does,
// and checks what esb cannot run. Errors are one line with file:line and the
// resource's logical id; features esb accepts but ignores become warnings.
package sam

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// Resource types esb understands.
const (
	TypeFunction    = "AWS::Serverless::Function"
	TypeLayer       = "AWS::Serverless::LayerVersion"
	TypeSimpleTable = "AWS::Serverless::SimpleTable"
	TypeTable       = "AWS::DynamoDB::Table"
	TypeBucket      = "AWS::S3::Bucket"
	TypeAPI         = "AWS::Serverless::Api"
	TypeHTTPAPI     = "AWS::Serverless::HttpApi"
)

// Defaults applied when the template and the options say nothing.
const (
	DefaultRegion             = "us-east-1"
	DefaultAccountID          = "123456789012"
	DefaultURLSuffix          = "localhost"
	DefaultMaxCapacity        = 10
	DefaultTimeout            = 3
	DefaultMemorySize         = 128
	DefaultEphemeralStorageMB = 512
)

// Options are the inputs of Compile besides the template itself.
type Options struct {
	// TemplatePath is the template file; CodeUri and ContentUri are relative to its directory.
	TemplatePath string
	// DisplayName is how messages name the template (default: its base name).
	DisplayName string
	// Parameters override the template's parameter defaults (generator.yml parameters).
	Parameters map[string]string
	// ParametersSource names where Parameters came from, for messages (default "generator.yml").
	ParametersSource string
	// Region, AccountID and StackName are the pseudo parameters' values
	// (defaults: us-east-1, 123456789012, the template directory's name).
	Region, AccountID, StackName string
	// DefaultMaxCapacity is a function's max_capacity without ReservedConcurrentExecutions (default 10).
	DefaultMaxCapacity int
}

// Result is a compiled template: the three manifests plus what the user should
// know about how they were made.
type Result struct {
	Functions manifest.Functions
	Routing   manifest.Routing
	Resources manifest.Resources
	// Warnings are features accepted but not acted on, and likely mistakes.
	Warnings []Warning
	// Parameters are the parameter values used, with their sources.
	Parameters []ParameterValue
	// Origins says, per function name, where each resolved value came from.
	Origins map[string][]Origin
	// ResourceOrigins says, per table and bucket logical id, where its name came from.
	ResourceOrigins map[string][]Origin
	// Order lists the function names in template order.
	Order []string
}

// ParameterValue is a resolved template parameter.
type ParameterValue struct {
	Name, Value, Source string
}

// Origin tells where one resolved value came from: a template line, Globals,
// a parameter, or a default.
type Origin struct {
	Field, Value, Source string
}

// compiler holds the state of one Compile call.
type compiler struct {
	opts    Options
	t       *Template
	r       *resolver
	dir     string
	res     *Result
	active  map[string]bool
	fnByARN map[string]string // function ARN → function name
	fnByID  map[string]string // logical id → function name
	s3evs   map[string][]manifest.Notification
	routes  []routeDecl
}

// Compile reads the template at opts.TemplatePath and compiles it.
func Compile(opts Options) (*Result, error) {
	if opts.DisplayName == "" {
		opts.DisplayName = filepath.Base(opts.TemplatePath)
	}
	t, err := ParseFile(opts.TemplatePath, opts.DisplayName)
	if err != nil {
		return nil, err
	}
	return CompileTemplate(t, opts)
}

// CompileTemplate compiles an already parsed template.
func CompileTemplate(t *Template, opts Options) (*Result, error) {
	if opts.ParametersSource == "" {
		opts.ParametersSource = "generator.yml"
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.StackName == "" {
		opts.StackName = filepath.Base(filepath.Dir(absPath(opts.TemplatePath)))
	}
	if opts.DefaultMaxCapacity <= 0 {
		opts.DefaultMaxCapacity = DefaultMaxCapacity
	}
	c := &compiler{
		opts:    opts,
		t:       t,
		dir:     filepath.Dir(absPath(opts.TemplatePath)),
		res:     &Result{Origins: map[string][]Origin{}, ResourceOrigins: map[string][]Origin{}},
		active:  map[string]bool{},
		fnByARN: map[string]string{},
		fnByID:  map[string]string{},
		s3evs:   map[string][]manifest.Notification{},
	}
	c.res.Functions.Functions = map[string]manifest.Function{}
	if err := c.setup(); err != nil {
		return nil, err
	}
	if err := c.compile(); err != nil {
		return nil, err
	}
	return c.res, nil
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func (c *compiler) errorf(line int, res, format string, args ...any) error {
	return &Error{File: c.t.File, Line: line, Resource: res, Msg: fmt.Sprintf(format, args...)}
}

func (c *compiler) warnf(line int, res, format string, args ...any) {
	c.res.Warnings = append(c.res.Warnings, Warning{File: c.t.File, Line: line, Resource: res, Msg: fmt.Sprintf(format, args...)})
}

// setup resolves parameters, pseudo parameters and conditions.
func (c *compiler) setup() error {
	t := c.t
	r := &resolver{
		t:        t,
		params:   map[string]*Node{},
		paramVia: map[string]string{},
		res:      map[string]*Resource{},
		implicit: map[string]string{"ServerlessRestApi": TypeAPI, "ServerlessHttpApi": TypeHTTPAPI},
		conds:    map[string]*condState{},
		names:    map[string]string{},
		nameSrc:  map[string]*Node{},
		naming:   map[string]bool{},
		layers:   map[string]string{},
	}
	c.r = r
	partition := "aws"
	switch {
	case strings.HasPrefix(c.opts.Region, "cn-"):
		partition = "aws-cn"
	case strings.HasPrefix(c.opts.Region, "us-gov-"):
		partition = "aws-us-gov"
	}
	r.pseudo = map[string]*Node{
		"AWS::Region":           scalar(c.opts.Region, 0),
		"AWS::AccountId":        scalar(c.opts.AccountID, 0),
		"AWS::StackName":        scalar(c.opts.StackName, 0),
		"AWS::StackId":          scalar(fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000", partition, c.opts.Region, c.opts.AccountID, c.opts.StackName), 0),
		"AWS::Partition":        scalar(partition, 0),
		"AWS::URLSuffix":        scalar(DefaultURLSuffix, 0),
		"AWS::NotificationARNs": {Kind: KindSeq},
	}
	for _, rs := range t.Resources {
		if _, dup := r.res[rs.LogicalID]; dup {
			return c.errorf(rs.Line, rs.LogicalID, "logical id is used twice")
		}
		r.res[rs.LogicalID] = rs
		if rs.Type == TypeFunction {
			r.implicit[rs.LogicalID+"Role"] = "AWS::IAM::Role"
		}
	}

	declared := map[string]bool{}
	for _, p := range t.Parameters {
		declared[p.Name] = true
		v, src := "", ""
		if ov, ok := c.opts.Parameters[p.Name]; ok {
			v, src = ov, c.opts.ParametersSource
			if err := p.Check(v); err != nil {
				return c.errorf(p.Line, "", "parameter %s: the value from %s %s (change parameters.%s in %s)", p.Name, src, err, p.Name, src)
			}
		} else if p.Default != nil {
			v, src = *p.Default, fmt.Sprintf("Default (%s:%d)", t.File, p.Line)
		} else {
			return c.errorf(p.Line, "", "parameter %s has no Default and no value (set parameters.%s in %s, or run `esb init`)", p.Name, p.Name, c.opts.ParametersSource)
		}
		if p.IsList() {
			n := &Node{Kind: KindSeq}
			for _, s := range splitList(v) {
				n.Items = append(n.Items, scalar(s, 0))
			}
			r.params[p.Name] = n
		} else {
			r.params[p.Name] = scalar(v, 0)
		}
		r.paramVia[p.Name] = fmt.Sprintf("parameter %s from %s", p.Name, src)
		if strings.HasPrefix(p.Type, "AWS::SSM::Parameter::") {
			c.warnf(p.Line, "", "parameter %s: SSM parameters are not fetched offline; the value %q is used as it is (set the real value in %s)", p.Name, v, c.opts.ParametersSource)
		}
		shown := v
		if p.NoEcho {
			shown = "****"
		}
		c.res.Parameters = append(c.res.Parameters, ParameterValue{Name: p.Name, Value: shown, Source: src})
	}
	extra := make([]string, 0)
	for k := range c.opts.Parameters {
		if !declared[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		c.warnf(0, "", "%s sets parameter %s, which the template does not declare; it is ignored", c.opts.ParametersSource, k)
	}

	if t.Conditions != nil {
		for _, f := range t.Conditions.Fields {
			r.conds[f.Key] = &condState{node: f.Value, line: f.Line}
		}
		for _, f := range t.Conditions.Fields {
			if _, err := r.condition(f.Key, f.Value, ""); err != nil {
				return err
			}
		}
	}
	r.active = c.isActive
	for _, rs := range t.Resources {
		if _, err := c.isActive(rs.LogicalID); err != nil {
			return err
		}
	}
	return nil
}

// splitList splits a CommaDelimitedList value.
func splitList(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// isActive reports whether a resource exists once its Condition is applied.
func (c *compiler) isActive(id string) (bool, error) {
	if v, ok := c.active[id]; ok {
		return v, nil
	}
	rs := c.r.res[id]
	v := true
	if rs.Condition != "" {
		var err error
		v, err = c.r.condition(rs.Condition, &Node{Line: rs.Line}, id)
		if err != nil {
			return false, err
		}
	}
	c.active[id] = v
	return v, nil
}

func (c *compiler) compile() error {
	t := c.t
	serverless := false
	for _, rs := range t.Resources {
		if strings.HasPrefix(rs.Type, "AWS::Serverless::") {
			serverless = true
		}
	}
	if serverless {
		found := false
		for _, tr := range t.Transforms {
			if tr == "AWS::Serverless-2016-10-31" {
				found = true
			}
		}
		if !found {
			c.warnf(0, "", "the template uses AWS::Serverless resources but has no `Transform: AWS::Serverless-2016-10-31`; AWS will reject it (esb compiles it anyway)")
		}
	}
	c.checkGlobals()

	// Layers first, so functions can refer to them; function names next, so
	// buckets' notifications can name functions.
	layers := map[string]manifest.Layer{}
	for _, rs := range t.Resources {
		if ok, _ := c.isActive(rs.LogicalID); !ok {
			continue
		}
		switch rs.Type {
		case TypeLayer:
			l, err := c.layer(rs)
			if err != nil {
				return err
			}
			layers[rs.LogicalID] = l
		case TypeFunction:
			name, err := c.r.physicalName(rs.LogicalID)
			if err != nil {
				return err
			}
			c.fnByID[rs.LogicalID] = name
			c.fnByARN[fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", c.r.region(), c.r.account(), name)] = name
		}
	}
	seenFn := map[string]string{}
	seenTable := map[string]string{}
	seenBucket := map[string]string{}
	for _, rs := range t.Resources {
		if ok, _ := c.isActive(rs.LogicalID); !ok {
			continue
		}
		switch rs.Type {
		case TypeFunction:
			name := c.fnByID[rs.LogicalID]
			if prev, dup := seenFn[name]; dup {
				return c.errorf(rs.Line, rs.LogicalID, "FunctionName %q is already used by %s; function names must be unique", name, prev)
			}
			seenFn[name] = rs.LogicalID
			if err := c.function(rs, name, layers); err != nil {
				return err
			}
		case TypeTable, TypeSimpleTable:
			tb, err := c.table(rs)
			if err != nil {
				return err
			}
			if prev, dup := seenTable[tb.Name]; dup {
				return c.errorf(rs.Line, rs.LogicalID, "TableName %q is already used by %s; table names must be unique", tb.Name, prev)
			}
			seenTable[tb.Name] = rs.LogicalID
			c.res.Resources.Tables = append(c.res.Resources.Tables, tb)
			c.nameOrigin(rs.LogicalID, tb.Name)
		case TypeBucket:
			b, err := c.bucket(rs)
			if err != nil {
				return err
			}
			if prev, dup := seenBucket[b.Name]; dup {
				return c.errorf(rs.Line, rs.LogicalID, "BucketName %q is already used by %s; bucket names must be unique", b.Name, prev)
			}
			seenBucket[b.Name] = rs.LogicalID
			c.res.Resources.Buckets = append(c.res.Resources.Buckets, b)
			c.nameOrigin(rs.LogicalID, b.Name)
		case TypeLayer:
		case TypeAPI, TypeHTTPAPI:
			if len(rs.Properties.Fields) > 0 {
				keys := make([]string, 0, len(rs.Properties.Fields))
				for _, f := range rs.Properties.Fields {
					if f.Key != "StageName" && f.Key != "Name" {
						keys = append(keys, f.Key)
					}
				}
				if len(keys) > 0 {
					c.warnf(rs.Line, rs.LogicalID, "%s settings (%s) are not applied by esb; routes come from the functions' events", rs.Type, strings.Join(keys, ", "))
				}
			}
		default:
			c.warnf(rs.Line, rs.LogicalID, "type %s is not supported by esb; ignored", rs.Type)
		}
	}
	// S3 events of functions become notifications of their buckets.
	for i := range c.res.Resources.Buckets {
		b := &c.res.Resources.Buckets[i]
		b.Notifications = append(b.Notifications, c.s3evs[b.LogicalID]...)
	}
	routes, err := c.sortRoutes()
	if err != nil {
		return err
	}
	c.res.Routing.Routes = routes
	return nil
}

// checkGlobals reports Globals sections and keys that SAM rejects or esb ignores.
func (c *compiler) checkGlobals() {
	g := c.t.Globals
	if g == nil {
		return
	}
	for _, f := range g.Fields {
		switch f.Key {
		case "Function", "SimpleTable":
		case "Api", "HttpApi":
			c.warnf(f.Line, "", "Globals.%s is not applied by esb (routes come from the functions' events)", f.Key)
		default:
			c.warnf(f.Line, "", "Globals.%s is not supported by esb; ignored", f.Key)
		}
	}
}

// globalsFunctionDenied are the Function properties SAM refuses in Globals.
var globalsFunctionDenied = map[string]bool{
	"Events": true, "FunctionName": true, "InlineCode": true, "Policies": true, "Role": true, "ImageUri": true,
	"ImageConfig": true, "PackageType": true,
}

// mergeGlobals merges a Globals section into a resource's properties the way
// SAM does: the resource's scalars win, maps merge (recursively), lists get the
// global entries first. Intrinsic functions count as scalars.
func mergeGlobals(global, local *Node) *Node {
	if global == nil || global.Kind == KindNull {
		return local
	}
	if local == nil {
		return global
	}
	_, _, gi := global.intrinsic(false)
	_, _, li := local.intrinsic(false)
	switch {
	case gi || li:
		return local
	case global.Kind == KindMap && local.Kind == KindMap:
		out := &Node{Kind: KindMap, Line: local.Line}
		for _, gf := range global.Fields {
			if lv := local.Get(gf.Key); lv != nil {
				out.Fields = append(out.Fields, Field{Key: gf.Key, Line: gf.Line, Value: mergeGlobals(gf.Value, lv)})
			} else {
				out.Fields = append(out.Fields, gf)
			}
		}
		for _, lf := range local.Fields {
			if global.Get(lf.Key) == nil {
				out.Fields = append(out.Fields, lf)
			}
		}
		return out
	case global.Kind == KindSeq && local.Kind == KindSeq:
		out := &Node{Kind: KindSeq, Line: local.Line, Items: make([]*Node, 0, len(global.Items)+len(local.Items))}
		out.Items = append(out.Items, global.Items...)
		out.Items = append(out.Items, local.Items...)
		return out
	}
	return local
}

// nameOrigin records where a table's or bucket's name came from.
func (c *compiler) nameOrigin(id, name string) {
	src := "logical id"
	if n, ok := c.r.nameSrc[id]; ok {
		src = c.origin(n)
	}
	c.res.ResourceOrigins[id] = append(c.res.ResourceOrigins[id], Origin{Field: "name", Value: name, Source: src})
}

// origin describes where a resolved value came from.
func (c *compiler) origin(n *Node) string {
	if n == nil {
		return "default"
	}
	s := fmt.Sprintf("%s:%d", c.t.File, n.Line)
	if n.Global {
		s += " (Globals)"
	}
	if len(n.Via) > 0 {
		s += " <- " + strings.Join(n.Via, ", ")
	}
	return s
}

// codeDir checks a CodeUri/ContentUri and returns it relative to the template directory.
func (c *compiler) codeDir(n *Node, res, prop string) (string, error) {
	if n == nil || n.Kind == KindNull {
		return "", c.errorf(0, res, "%s is missing (set it to the directory that holds the code, relative to the template)", prop)
	}
	if n.Kind == KindMap {
		return "", c.errorf(n.Line, res, "%s must be a local directory; esb runs offline and cannot fetch code from S3 (Bucket/Key)", prop)
	}
	if n.Kind != KindScalar {
		return "", c.errorf(n.Line, res, "%s must be a directory path", prop)
	}
	p := n.Value
	if strings.HasPrefix(p, "s3://") || strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		return "", c.errorf(n.Line, res, "%s %q must be a local directory; esb runs offline and cannot fetch code from S3", prop, p)
	}
	full := p
	if !filepath.IsAbs(full) {
		full = filepath.Join(c.dir, p)
	}
	st, err := os.Stat(full)
	if err != nil {
		return "", c.errorf(n.Line, res, "%s %q does not exist (create the directory or fix the path; it is relative to %s)", prop, p, c.t.File)
	}
	if !st.IsDir() {
		if strings.HasSuffix(strings.ToLower(p), ".zip") || strings.HasSuffix(strings.ToLower(p), ".jar") {
			return "", c.errorf(n.Line, res, "%s %q is an archive; point it at the unpacked directory instead", prop, p)
		}
		return "", c.errorf(n.Line, res, "%s %q is a file; point it at the directory that holds the code", prop, p)
	}
	rel, err := filepath.Rel(c.dir, full)
	if err != nil {
		rel = full
	}
	return filepath.ToSlash(rel), nil
}

// layer compiles an AWS::Serverless::LayerVersion.
func (c *compiler) layer(rs *Resource) (manifest.Layer, error) {
	id := rs.LogicalID
	name, err := c.r.physicalName(id)
	if err != nil {
		return manifest.Layer{}, err
	}
	props, err := c.r.resolve(rs.Properties, id)
	if err != nil {
		return manifest.Layer{}, err
	}
	dir, err := c.codeDir(props.Get("ContentUri"), id, "ContentUri")
	if err != nil {
		if props.Get("ContentUri") == nil {
			return manifest.Layer{}, c.errorf(rs.Line, id, "ContentUri is missing (set it to the layer's directory, relative to the template)")
		}
		return manifest.Layer{}, err
	}
	if bm := buildMethod(rs); bm != "" {
		c.warnf(rs.Line, id, "Metadata.BuildMethod %s is not run for layers (esb builds offline); the directory is copied into /opt as it is", bm)
	}
	c.r.layers[c.r.layerARN(name)] = id
	return manifest.Layer{Name: name, ContentURI: dir}, nil
}

func buildMethod(rs *Resource) string {
	if rs.Metadata == nil {
		return ""
	}
	if bm := rs.Metadata.Get("BuildMethod"); bm != nil && bm.Kind == KindScalar {
		return bm.Value
	}
	return ""
}
