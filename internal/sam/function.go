package sam

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgeserverlessbox/esb/internal/manifest"
	"github.com/edgeserverlessbox/esb/internal/schedule"
)

// supportedRuntimes are the Lambda runtimes esb can run, in display order.
var supportedRuntimes = []string{
	"nodejs18.x", "nodejs20.x", "nodejs22.x",
	"provided", "provided.al2", "provided.al2023",
	"python3.9", "python3.10", "python3.11", "python3.12", "python3.13",
}

// SupportedRuntimes returns the Lambda runtime identifiers esb can run.
func SupportedRuntimes() []string { return append([]string(nil), supportedRuntimes...) }

func isSupportedRuntime(rt string) bool {
	for _, s := range supportedRuntimes {
		if s == rt {
			return true
		}
	}
	return false
}

// function compiles one AWS::Serverless::Function.
func (c *compiler) function(rs *Resource, name string, layers map[string]manifest.Layer) error {
	id := rs.LogicalID
	raw := rs.Properties
	var global *Node
	if c.t.Globals != nil {
		global = c.t.Globals.Get("Function")
	}
	if global != nil && global.Kind == KindMap {
		for _, f := range global.Fields {
			if globalsFunctionDenied[f.Key] {
				return c.errorf(f.Line, "", "Globals.Function.%s is not allowed by SAM (set it on each function instead)", f.Key)
			}
		}
		raw = mergeGlobals(global, raw)
	}
	// Resolve each property on its own, so an error names the right line.
	props := &Node{Kind: KindMap, Line: raw.Line}
	for _, f := range raw.Fields {
		if ignoredFunctionProperty[f.Key] {
			continue
		}
		v, err := c.r.resolve(f.Value, id)
		if err != nil {
			return err
		}
		if v == noValue {
			continue
		}
		props.Fields = append(props.Fields, Field{Key: f.Key, Line: f.Line, Value: v})
	}
	fn := manifest.Function{LogicalID: id}
	var origins []Origin
	add := func(field, value string, n *Node) {
		origins = append(origins, Origin{Field: field, Value: value, Source: c.origin(n)})
	}
	nameNode := rs.Properties.Get("FunctionName")
	if nameNode != nil {
		add("name", name, props.Get("FunctionName"))
	} else {
		origins = append(origins, Origin{Field: "name", Value: name, Source: "logical id"})
	}
	if props.Get("InlineCode") != nil {
		return c.errorf(props.Get("InlineCode").Line, id, "InlineCode is not supported (SAM local refuses it too); move the code into a directory and set CodeUri")
	}

	pkg := "Zip"
	if n := props.Get("PackageType"); n != nil {
		pkg = n.Value
		if pkg != "Zip" && pkg != "Image" {
			return c.errorf(n.Line, id, "PackageType %q must be Zip or Image", pkg)
		}
	}
	if pkg == "Image" {
		fn.PackageType = "Image"
		n := props.Get("ImageUri")
		if n == nil || n.Kind != KindScalar || n.Value == "" {
			return c.errorf(rs.Line, id, "PackageType Image needs ImageUri (an image available locally, e.g. myfunc:latest)")
		}
		fn.ImageURI = n.Value
		add("image_uri", n.Value, n)
		if ic := props.Get("ImageConfig"); ic != nil {
			cfg := &manifest.ImageConfig{}
			var err error
			if cfg.EntryPoint, err = c.stringList(ic.Get("EntryPoint"), id, "ImageConfig.EntryPoint"); err != nil {
				return err
			}
			if cfg.Command, err = c.stringList(ic.Get("Command"), id, "ImageConfig.Command"); err != nil {
				return err
			}
			if wd := ic.Get("WorkingDirectory"); wd != nil {
				cfg.WorkingDirectory = wd.Value
			}
			fn.ImageConfig = cfg
		}
		for _, k := range []string{"Runtime", "Handler", "Layers", "CodeUri"} {
			if n := props.Get(k); n != nil && !n.Global {
				c.warnf(n.Line, id, "%s is ignored for PackageType Image", k)
			}
		}
	} else {
		rt := props.Get("Runtime")
		if rt == nil || rt.Kind != KindScalar || rt.Value == "" {
			return c.errorf(rs.Line, id, "Runtime is missing (e.g. Runtime: python3.12; supported: %s)", strings.Join(supportedRuntimes, ", "))
		}
		if !isSupportedRuntime(rt.Value) {
			hint := ""
			if rt.Value == "go1.x" {
				hint = "; for Go use Runtime: provided.al2023 with Metadata: BuildMethod: go1.x"
			}
			return c.errorf(rt.Line, id, "Runtime %q is not supported by esb (supported: %s)%s", rt.Value, strings.Join(supportedRuntimes, ", "), hint)
		}
		fn.Runtime = rt.Value
		add("runtime", rt.Value, rt)
		h := props.Get("Handler")
		if h != nil && h.Kind == KindScalar {
			fn.Handler = h.Value
			add("handler", h.Value, h)
		}
		if fn.Handler == "" && !strings.HasPrefix(fn.Runtime, "provided") {
			return c.errorf(rs.Line, id, "Handler is missing (e.g. Handler: app.handler for %s)", fn.Runtime)
		}
		codeNode := props.Get("CodeUri")
		if codeNode == nil {
			return c.errorf(rs.Line, id, "CodeUri is missing (set it to the directory that holds the function's code, relative to %s)", c.t.File)
		}
		dir, err := c.codeDir(codeNode, id, "CodeUri")
		if err != nil {
			return err
		}
		fn.CodeURI = dir
		add("code_uri", dir, codeNode)
		fn.BuildMethod = buildMethod(rs)
		if err := c.checkBuild(rs, &fn, codeNode); err != nil {
			return err
		}
		if fn.BuildMethod != "" {
			origins = append(origins, Origin{Field: "build_method", Value: fn.BuildMethod, Source: "Metadata.BuildMethod"})
		}
	}

	var err error
	if fn.Timeout, err = c.intProp(props, "Timeout", id, DefaultTimeout, 1, 900, "seconds"); err != nil {
		return err
	}
	add("timeout", strconv.Itoa(fn.Timeout), props.Get("Timeout"))
	if fn.MemorySize, err = c.intProp(props, "MemorySize", id, DefaultMemorySize, 128, 10240, "MB"); err != nil {
		return err
	}
	add("memory_size", strconv.Itoa(fn.MemorySize), props.Get("MemorySize"))
	if es := props.Get("EphemeralStorage"); es != nil {
		if fn.EphemeralStorage, err = c.intProp(es, "Size", id, DefaultEphemeralStorageMB, 512, 10240, "MB"); err != nil {
			return err
		}
		add("ephemeral_storage", strconv.Itoa(fn.EphemeralStorage), es.Get("Size"))
	}

	if env := props.Get("Environment"); env != nil {
		vars := env.Get("Variables")
		if vars != nil && vars.Kind == KindMap {
			fn.Environment = make(map[string]string, len(vars.Fields))
			for _, f := range vars.Fields {
				v := f.Value
				switch v.Kind {
				case KindScalar:
					fn.Environment[f.Key] = v.Value
				case KindNull:
					fn.Environment[f.Key] = ""
				default:
					return c.errorf(f.Line, id, "Environment.Variables.%s must be a string, got %s", f.Key, v)
				}
				add("environment."+f.Key, fn.Environment[f.Key], v)
			}
		} else if vars != nil && vars.Kind != KindNull {
			return c.errorf(vars.Line, id, "Environment.Variables must be a mapping of names to strings")
		}
	}

	if ln := props.Get("Layers"); ln != nil && pkg != "Image" {
		if ln.Kind != KindSeq {
			return c.errorf(ln.Line, id, "Layers must be a list of !Ref to AWS::Serverless::LayerVersion resources")
		}
		if len(ln.Items) > 5 {
			return c.errorf(ln.Line, id, "a function can have at most 5 Layers (it has %d)", len(ln.Items))
		}
		for _, it := range ln.Items {
			lid, ok := c.r.layers[it.Value]
			if it.Kind != KindScalar || !ok {
				return c.errorf(it.Line, id, "layer %s is not an AWS::Serverless::LayerVersion of this template; esb runs offline and cannot download layers (add the layer with a ContentUri and use !Ref)", it)
			}
			fn.Layers = append(fn.Layers, layers[lid])
			add("layers", layers[lid].Name, it)
			c.checkLayerCompat(lid, fn.Runtime, it, id)
		}
	}

	fn.Architectures = []string{"x86_64"}
	if an := props.Get("Architectures"); an != nil {
		list, err := c.stringList(an, id, "Architectures")
		if err != nil {
			return err
		}
		if len(list) != 1 || (list[0] != "x86_64" && list[0] != "arm64") {
			return c.errorf(an.Line, id, "Architectures must be [x86_64] or [arm64]")
		}
		fn.Architectures = list
		add("architectures", list[0], an)
	} else {
		origins = append(origins, Origin{Field: "architectures", Value: "x86_64", Source: "default"})
	}

	if n := props.Get("AutoPublishAlias"); n != nil && n.Kind == KindScalar {
		fn.Alias = n.Value
		add("alias", n.Value, n)
	}

	// Scaling: ReservedConcurrentExecutions caps the pool, provisioned
	// concurrency keeps workers warm.
	fn.Scaling.MaxCapacity = c.opts.DefaultMaxCapacity
	maxNode := props.Get("ReservedConcurrentExecutions")
	if maxNode != nil {
		if fn.Scaling.MaxCapacity, err = c.intProp(props, "ReservedConcurrentExecutions", id, 0, 0, 1000, "concurrent executions"); err != nil {
			return err
		}
		if fn.Scaling.MaxCapacity == 0 {
			c.warnf(maxNode.Line, id, "ReservedConcurrentExecutions is 0: the function is disabled and every invocation is throttled (429)")
		}
		add("scaling.max_capacity", strconv.Itoa(fn.Scaling.MaxCapacity), maxNode)
	}
	if pc := props.Get("ProvisionedConcurrencyConfig"); pc != nil {
		if fn.Scaling.MinCapacity, err = c.intProp(pc, "ProvisionedConcurrentExecutions", id, 0, 0, 1000, "concurrent executions"); err != nil {
			return err
		}
		if fn.Alias == "" {
			return c.errorf(pc.Line, id, "ProvisionedConcurrencyConfig needs AutoPublishAlias (as on AWS); add AutoPublishAlias: live")
		}
		if maxNode != nil && fn.Scaling.MinCapacity > fn.Scaling.MaxCapacity {
			return c.errorf(pc.Line, id, "ProvisionedConcurrentExecutions (%d) exceeds ReservedConcurrentExecutions (%d); lower it or raise the reservation", fn.Scaling.MinCapacity, fn.Scaling.MaxCapacity)
		}
		if fn.Scaling.MinCapacity > fn.Scaling.MaxCapacity {
			fn.Scaling.MaxCapacity = fn.Scaling.MinCapacity
		}
		add("scaling.min_capacity", strconv.Itoa(fn.Scaling.MinCapacity), pc.Get("ProvisionedConcurrentExecutions"))
	}
	if maxNode == nil {
		src := fmt.Sprintf("default max capacity (%d)", c.opts.DefaultMaxCapacity)
		if fn.Scaling.MaxCapacity != c.opts.DefaultMaxCapacity {
			src = "raised to ProvisionedConcurrentExecutions"
		}
		origins = append(origins, Origin{Field: "scaling.max_capacity", Value: strconv.Itoa(fn.Scaling.MaxCapacity), Source: src})
	}

	if ev := props.Get("Events"); ev != nil {
		if err := c.events(rs, name, ev, &fn); err != nil {
			return err
		}
	}
	c.res.Functions.Functions[name] = fn
	c.res.Order = append(c.res.Order, name)
	c.res.Origins[name] = origins
	return nil
}

// ignoredFunctionProperty lists properties esb does not use; they are not
// resolved, so references to resources esb does not run cannot fail there.
var ignoredFunctionProperty = map[string]bool{
	"Policies": true, "Role": true, "PermissionsBoundary": true, "AssumeRolePolicyDocument": true,
	"DeploymentPreference": true, "VpcConfig": true, "Tags": true, "PropagateTags": true,
	"Tracing": true, "KmsKeyArn": true, "DeadLetterQueue": true, "EventInvokeConfig": true,
	"Description": true, "CodeSigningConfigArn": true, "FileSystemConfigs": true,
	"RuntimeManagementConfig": true, "SnapStart": true, "LoggingConfig": true, "RecursiveLoop": true,
	"SourceKMSKeyArn": true, "AutoPublishCodeSha256": true, "AutoPublishAliasAllProperties": true,
	"VersionDescription": true, "VersionDeletionPolicy": true, "FunctionUrlConfig": true,
}

// checkBuild validates Metadata.BuildMethod and warns about dependencies esb
// cannot install offline.
func (c *compiler) checkBuild(rs *Resource, fn *manifest.Function, codeNode *Node) error {
	dir := filepath.Join(c.dir, filepath.FromSlash(fn.CodeURI))
	switch bm := fn.BuildMethod; {
	case bm == "go1.x":
		if !strings.HasPrefix(fn.Runtime, "provided") {
			return c.errorf(rs.Line, rs.LogicalID, "Metadata.BuildMethod go1.x needs Runtime provided.al2023 (or provided.al2), not %s", fn.Runtime)
		}
		return nil
	case bm == "":
	case strings.HasPrefix(bm, "python") || strings.HasPrefix(bm, "nodejs"):
	case bm == "makefile", bm == "esbuild":
		c.warnf(rs.Line, rs.LogicalID, "Metadata.BuildMethod %s is not run by esb; CodeUri is copied as it is", bm)
	default:
		c.warnf(rs.Line, rs.LogicalID, "Metadata.BuildMethod %s is not known to esb; CodeUri is copied as it is", bm)
	}
	switch {
	case strings.HasPrefix(fn.Runtime, "python"):
		if fileExists(filepath.Join(dir, "requirements.txt")) {
			c.warnf(codeNode.Line, rs.LogicalID, "%s/requirements.txt is not installed (esb builds offline); vendor the packages into CodeUri or a layer", fn.CodeURI)
		}
	case strings.HasPrefix(fn.Runtime, "nodejs"):
		if fileExists(filepath.Join(dir, "package.json")) && !fileExists(filepath.Join(dir, "node_modules")) {
			c.warnf(codeNode.Line, rs.LogicalID, "%s has a package.json but no node_modules; run npm install there first (esb builds offline)", fn.CodeURI)
		}
	case strings.HasPrefix(fn.Runtime, "provided"):
		if fn.BuildMethod == "" && !fileExists(filepath.Join(dir, "bootstrap")) {
			c.warnf(codeNode.Line, rs.LogicalID, "%s has no bootstrap executable; build one there or set Metadata: BuildMethod: go1.x", fn.CodeURI)
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (c *compiler) checkLayerCompat(lid, runtime string, at *Node, fnID string) {
	rs := c.r.res[lid]
	cr := rs.Properties.Get("CompatibleRuntimes")
	if cr == nil || cr.Kind != KindSeq || runtime == "" {
		return
	}
	for _, it := range cr.Items {
		if it.Value == runtime {
			return
		}
	}
	c.warnf(at.Line, fnID, "layer %s does not list %s in its CompatibleRuntimes", lid, runtime)
}

// intProp reads an integer property with a default and a range.
func (c *compiler) intProp(props *Node, key, res string, def, lo, hi int, unit string) (int, error) {
	n := props.Get(key)
	if n == nil || n.Kind == KindNull {
		return def, nil
	}
	if n.Kind != KindScalar {
		return 0, c.errorf(n.Line, res, "%s must be a number of %s, got %s", key, unit, n)
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, c.errorf(n.Line, res, "%s must be a whole number of %s, got %q", key, unit, n.Value)
	}
	if v < lo || v > hi {
		return 0, c.errorf(n.Line, res, "%s %d is out of range (%d to %d %s)", key, v, lo, hi, unit)
	}
	return v, nil
}

// stringList reads a list of strings (a single string counts as a list of one).
func (c *compiler) stringList(n *Node, res, key string) ([]string, error) {
	if n == nil || n.Kind == KindNull {
		return nil, nil
	}
	if n.Kind == KindScalar {
		return []string{n.Value}, nil
	}
	if n.Kind != KindSeq {
		return nil, c.errorf(n.Line, res, "%s must be a list of strings", key)
	}
	out := make([]string, 0, len(n.Items))
	for _, it := range n.Items {
		if it.Kind != KindScalar {
			return nil, c.errorf(it.Line, res, "%s must be a list of strings", key)
		}
		out = append(out, it.Value)
	}
	return out, nil
}

// events compiles a function's Events.
func (c *compiler) events(rs *Resource, name string, ev *Node, fn *manifest.Function) error {
	id := rs.LogicalID
	if ev.Kind != KindMap {
		return c.errorf(ev.Line, id, "Events must be a mapping from event names to {Type, Properties}")
	}
	rawEvents := rs.Properties.Get("Events")
	for _, f := range ev.Fields {
		e := f.Value
		typ := e.Get("Type")
		if typ == nil || typ.Kind != KindScalar {
			return c.errorf(f.Line, id, "event %s has no Type (Api, HttpApi, Schedule, S3 …)", f.Key)
		}
		p := e.Get("Properties")
		if p == nil || p.Kind == KindNull {
			p = &Node{Kind: KindMap, Line: f.Line}
		}
		if p.Kind != KindMap {
			return c.errorf(p.Line, id, "event %s: Properties must be a mapping", f.Key)
		}
		me := manifest.Event{Name: f.Key, Type: typ.Value}
		switch typ.Value {
		case "Api", "HttpApi":
			rd, err := c.route(id, name, f, typ.Value, p)
			if err != nil {
				return err
			}
			c.routes = append(c.routes, rd)
			me.Path, me.Method = rd.route.Path, rd.route.Method
		case "Schedule", "ScheduleV2":
			key := "Schedule"
			if typ.Value == "ScheduleV2" {
				key = "ScheduleExpression"
			}
			s := p.Get(key)
			if s == nil || s.Kind != KindScalar {
				return c.errorf(f.Line, id, "event %s: %s is missing (e.g. rate(5 minutes) or cron(0 12 * * ? *))", f.Key, key)
			}
			loc := time.UTC
			if tz := p.Get("ScheduleExpressionTimezone"); tz != nil && typ.Value == "ScheduleV2" && tz.Value != "" {
				l, err := time.LoadLocation(tz.Value)
				if err != nil {
					return c.errorf(tz.Line, id, "event %s: ScheduleExpressionTimezone %q is not a time zone name (e.g. Europe/Berlin): %v", f.Key, tz.Value, err)
				}
				loc, me.Timezone = l, tz.Value
			}
			if typ.Value == "Schedule" && strings.HasPrefix(s.Value, "at(") {
				return c.errorf(s.Line, id, "event %s: at(…) is for ScheduleV2 (EventBridge Scheduler); a Schedule takes rate(…) or cron(…)", f.Key)
			}
			if _, err := schedule.ParseIn(s.Value, loc); err != nil {
				return c.errorf(s.Line, id, "event %s: %s: %v", f.Key, key, err)
			}
			me.Schedule = s.Value
			if in := p.Get("Input"); in != nil {
				if !json.Valid([]byte(in.Value)) {
					return c.errorf(in.Line, id, "event %s: Input must be a JSON text (e.g. '{\"key\": \"value\"}'), got %q", f.Key, in.Value)
				}
				me.Input = in.Value
			}
			if n := p.Get("Name"); n != nil && n.Value != "" {
				me.RuleName = n.Value
			}
			enabled := true
			if en := p.Get("Enabled"); en != nil {
				enabled = en.Value == "true"
			}
			if st := p.Get("State"); st != nil {
				enabled = st.Value == "ENABLED"
			}
			me.Enabled = &enabled
		case "S3":
			if err := c.s3Event(id, name, f, p, rawEvents, &me); err != nil {
				return err
			}
		default:
			c.warnf(f.Line, id, "event %s: type %s is not supported by esb yet; ignored", f.Key, typ.Value)
			continue
		}
		fn.Events = append(fn.Events, me)
	}
	return nil
}

// s3Event compiles an S3 event; its bucket gets a matching notification.
func (c *compiler) s3Event(id, name string, f Field, p, rawEvents *Node, me *manifest.Event) error {
	var rawBucket *Node
	if re := rawEvents.Get(f.Key); re != nil {
		if rp := re.Get("Properties"); rp != nil {
			rawBucket = rp.Get("Bucket")
		}
	}
	fnName, arg, ok := rawBucket.intrinsic(false)
	bucketID := ""
	if ok && fnName == "Ref" && arg.Kind == KindScalar {
		bucketID = arg.Value
	}
	br, isRes := c.r.res[bucketID]
	if !isRes || br.Type != TypeBucket {
		line := f.Line
		if rawBucket != nil {
			line = rawBucket.Line
		}
		return c.errorf(line, id, "event %s: S3 Bucket must be !Ref to an AWS::S3::Bucket in this template (as SAM requires)", f.Key)
	}
	b := p.Get("Bucket")
	me.Bucket = b.Value
	evs, err := c.stringList(p.Get("Events"), id, "Events")
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return c.errorf(f.Line, id, "event %s: Events is missing (e.g. s3:ObjectCreated:*)", f.Key)
	}
	for _, e := range evs {
		if !strings.HasPrefix(e, "s3:") {
			return c.errorf(f.Line, id, "event %s: %q is not an S3 event name (e.g. s3:ObjectCreated:*)", f.Key, e)
		}
	}
	me.S3 = evs
	filter, err := c.s3Filter(p.Get("Filter"), id)
	if err != nil {
		return err
	}
	me.Filter = filter
	for _, e := range evs {
		c.s3evs[bucketID] = append(c.s3evs[bucketID], manifest.Notification{Type: "lambda", Event: e, Function: name, Filter: filter})
	}
	return nil
}

// s3Filter reads Filter.S3Key.Rules.
func (c *compiler) s3Filter(n *Node, res string) ([]manifest.FilterRule, error) {
	if n == nil {
		return nil, nil
	}
	rules := n.Get("S3Key").Get("Rules")
	if rules == nil {
		return nil, nil
	}
	if rules.Kind != KindSeq {
		return nil, c.errorf(rules.Line, res, "Filter.S3Key.Rules must be a list of {Name: prefix|suffix, Value}")
	}
	var out []manifest.FilterRule
	for _, r := range rules.Items {
		nm, v := r.Get("Name"), r.Get("Value")
		if nm == nil || v == nil {
			return nil, c.errorf(r.Line, res, "a Filter.S3Key rule needs Name (prefix or suffix) and Value")
		}
		name := strings.ToLower(nm.Value)
		if name != "prefix" && name != "suffix" {
			return nil, c.errorf(nm.Line, res, "Filter.S3Key rule Name %q must be prefix or suffix", nm.Value)
		}
		out = append(out, manifest.FilterRule{Name: name, Value: v.Value})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
