package sam

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// noValue is what !Ref AWS::NoValue resolves to: the property is removed.
var noValue = &Node{Kind: KindNull}

// resolver evaluates intrinsic functions and conditions against parameter
// values, pseudo parameters and the template's resources.
type resolver struct {
	t        *Template
	params   map[string]*Node
	paramVia map[string]string
	pseudo   map[string]*Node
	res      map[string]*Resource
	implicit map[string]string // implicit SAM resources → their type
	conds    map[string]*condState
	// condStack holds the conditions being evaluated, to name a cycle.
	condStack []string
	names     map[string]string // logical id → physical name (memo)
	nameSrc   map[string]*Node  // logical id → the resolved name property, when set
	naming    map[string]bool   // logical ids whose name is being resolved
	// layers maps a layer's Ref value (its ARN) to the layer's logical id.
	layers map[string]string
	// active says whether a resource exists after its Condition.
	active func(id string) (bool, error)
}

type condState struct {
	node  *Node
	line  int
	state uint8 // 0 unvisited, 1 visiting, 2 done
	value bool
}

func (r *resolver) errorf(n *Node, res, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: r.t.File, Line: line, Resource: res, Msg: fmt.Sprintf(format, args...)}
}

// resolve evaluates every intrinsic function inside n. It returns noValue for
// AWS::NoValue; mappings and lists drop such entries.
func (r *resolver) resolve(n *Node, res string) (*Node, error) {
	if n == nil {
		return nil, nil
	}
	switch n.Kind {
	case KindNull, KindScalar:
		return n, nil
	case KindSeq:
		out := &Node{Kind: KindSeq, Line: n.Line, Global: n.Global, Items: make([]*Node, 0, len(n.Items))}
		for _, it := range n.Items {
			v, err := r.resolve(it, res)
			if err != nil {
				return nil, err
			}
			if v == noValue {
				continue
			}
			out.Items = append(out.Items, v)
		}
		return out, nil
	}
	if name, arg, ok := n.intrinsic(false); ok {
		v, err := r.call(name, arg, n, res)
		if err != nil {
			return nil, err
		}
		if v != noValue && v.Line == 0 {
			v.Line = n.Line
		}
		if v != noValue && n.Global {
			v.Global = true
		}
		return v, nil
	}
	out := &Node{Kind: KindMap, Line: n.Line, Global: n.Global, Fields: make([]Field, 0, len(n.Fields))}
	for _, f := range n.Fields {
		v, err := r.resolve(f.Value, res)
		if err != nil {
			return nil, err
		}
		if v == noValue {
			continue
		}
		out.Fields = append(out.Fields, Field{Key: f.Key, Line: f.Line, Value: v})
	}
	return out, nil
}

func (r *resolver) call(name string, arg, at *Node, res string) (*Node, error) {
	switch name {
	case "Ref":
		if arg.Kind != KindScalar {
			a, err := r.resolve(arg, res)
			if err != nil {
				return nil, err
			}
			if a.Kind != KindScalar {
				return nil, r.errorf(at, res, "!Ref needs a name, got %s", a)
			}
			arg = a
		}
		return r.ref(arg.Value, at, res)
	case "Fn::Sub":
		return r.sub(arg, at, res)
	case "Fn::GetAtt":
		return r.getAtt(arg, at, res)
	case "Fn::Join":
		return r.join(arg, at, res)
	case "Fn::Select":
		return r.selectFn(arg, at, res)
	case "Fn::Split":
		return r.split(arg, at, res)
	case "Fn::FindInMap":
		return r.findInMap(arg, at, res)
	case "Fn::If":
		return r.ifFn(arg, at, res)
	case "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not":
		b, err := r.evalCond(&Node{Kind: KindMap, Line: at.Line, Fields: []Field{{Key: name, Line: at.Line, Value: arg}}}, res)
		if err != nil {
			return nil, err
		}
		return boolNode(b, at.Line), nil
	case "Fn::Base64":
		v, err := r.resolveString(arg, at, res, "!Base64")
		if err != nil {
			return nil, err
		}
		out := scalar(base64.StdEncoding.EncodeToString([]byte(v.Value)), at.Line)
		out.Via = v.Via
		return out, nil
	case "Fn::GetAZs":
		v, err := r.resolveString(arg, at, res, "!GetAZs")
		if err != nil {
			return nil, err
		}
		region := v.Value
		if region == "" {
			region = r.pseudo["AWS::Region"].Value
		}
		return &Node{Kind: KindSeq, Line: at.Line, Items: []*Node{scalar(region+"a", at.Line), scalar(region+"b", at.Line), scalar(region+"c", at.Line)}}, nil
	case "Fn::ImportValue":
		return nil, r.errorf(at, res, "!ImportValue is not supported: esb runs one stack offline and has no other stacks' exports (replace it with a Parameter)")
	case "Fn::Cidr":
		return nil, r.errorf(at, res, "!Cidr is not supported by esb (networks are local; remove it or use a Parameter)")
	case "Fn::Transform":
		return nil, r.errorf(at, res, "Fn::Transform (macros such as AWS::Include) is not supported by esb; inline the included content")
	case "Fn::Length", "Fn::ToJsonString":
		return nil, r.errorf(at, res, "%s needs the AWS::LanguageExtensions transform, which esb does not support; write the value out", name)
	}
	return nil, r.errorf(at, res, "unknown intrinsic function %s (esb understands %s)", name, shortFormList)
}

// ref resolves !Ref name: a parameter, a pseudo parameter, or a resource.
func (r *resolver) ref(name string, at *Node, res string) (*Node, error) {
	if name == "AWS::NoValue" {
		return noValue, nil
	}
	if v, ok := r.pseudo[name]; ok {
		return cloneAt(v, at.Line), nil
	}
	if v, ok := r.params[name]; ok {
		out := cloneAt(v, at.Line)
		if via := r.paramVia[name]; via != "" {
			out.Via = []string{via}
		}
		return out, nil
	}
	if _, ok := r.res[name]; ok {
		id, err := r.refValue(name, at, res)
		if err != nil {
			return nil, err
		}
		return scalar(id, at.Line), nil
	}
	if _, ok := r.implicit[name]; ok {
		return scalar(name, at.Line), nil
	}
	return nil, r.errorf(at, res, "unknown !Ref %q: there is no parameter, resource or pseudo parameter of that name (declare it under Parameters or fix the name)", name)
}

func cloneAt(n *Node, line int) *Node {
	cp := *n
	cp.Line = line
	if n.Kind == KindSeq {
		cp.Items = make([]*Node, len(n.Items))
		for i, it := range n.Items {
			cp.Items[i] = cloneAt(it, line)
		}
	}
	return &cp
}

// refValue is what !Ref of a resource gives on AWS: its physical name (a
// layer's version ARN, a queue's URL).
func (r *resolver) refValue(id string, at *Node, res string) (string, error) {
	rs := r.res[id]
	if r.active != nil {
		ok, err := r.active(id)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", r.errorf(at, res, "resource %s is referenced here but removed by its Condition %s (guard this reference with !If on the same condition)", id, rs.Condition)
		}
	}
	name, err := r.physicalName(id)
	if err != nil {
		return "", err
	}
	switch rs.Type {
	case TypeLayer:
		return r.layerARN(name), nil
	case "AWS::SQS::Queue":
		return fmt.Sprintf("https://sqs.%s.%s/%s/%s", r.region(), r.pseudo["AWS::URLSuffix"].Value, r.account(), name), nil
	}
	return name, nil
}

func (r *resolver) region() string  { return r.pseudo["AWS::Region"].Value }
func (r *resolver) account() string { return r.pseudo["AWS::AccountId"].Value }

func (r *resolver) layerARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:layer:%s:1", r.region(), r.account(), name)
}

// nameProperty is the property holding a resource type's physical name.
var nameProperty = map[string]string{
	TypeFunction:            "FunctionName",
	TypeLayer:               "LayerName",
	TypeSimpleTable:         "TableName",
	TypeTable:               "TableName",
	TypeBucket:              "BucketName",
	"AWS::SQS::Queue":       "QueueName",
	"AWS::SNS::Topic":       "TopicName",
	"AWS::Lambda::Function": "FunctionName",
}

// physicalName resolves a resource's name property (FunctionName, TableName,
// BucketName …), defaulting to its logical id (lower-cased for buckets).
func (r *resolver) physicalName(id string) (string, error) {
	if n, ok := r.names[id]; ok {
		return n, nil
	}
	rs := r.res[id]
	prop := nameProperty[rs.Type]
	name := id
	if rs.Type == TypeBucket {
		name = strings.ToLower(id)
	}
	if prop != "" {
		if raw := rs.Properties.Get(prop); raw != nil {
			if r.naming[id] {
				return "", r.errorf(raw, id, "%s refers to itself", prop)
			}
			r.naming[id] = true
			v, err := r.resolve(raw, id)
			delete(r.naming, id)
			if err != nil {
				return "", err
			}
			if v != noValue {
				if v.Kind != KindScalar || v.Value == "" {
					return "", r.errorf(raw, id, "%s must be a non-empty string", prop)
				}
				name = v.Value
				r.nameSrc[id] = v
			}
		}
	}
	r.names[id] = name
	return name, nil
}

// getAtt resolves !GetAtt Resource.Attribute.
func (r *resolver) getAtt(arg, at *Node, res string) (*Node, error) {
	var id, attr string
	switch arg.Kind {
	case KindScalar:
		var ok bool
		id, attr, ok = strings.Cut(arg.Value, ".")
		if !ok {
			return nil, r.errorf(at, res, "!GetAtt %q must be Resource.Attribute", arg.Value)
		}
	case KindSeq:
		if len(arg.Items) != 2 {
			return nil, r.errorf(at, res, "!GetAtt needs [Resource, Attribute]")
		}
		parts := make([]string, 2)
		for i, it := range arg.Items {
			v, err := r.resolveString(it, at, res, "!GetAtt")
			if err != nil {
				return nil, err
			}
			parts[i] = v.Value
		}
		id, attr = parts[0], parts[1]
	default:
		return nil, r.errorf(at, res, "!GetAtt needs Resource.Attribute or [Resource, Attribute]")
	}
	v, err := r.attribute(id, attr, at, res)
	if err != nil {
		return nil, err
	}
	return scalar(v, at.Line), nil
}

func (r *resolver) attribute(id, attr string, at *Node, res string) (string, error) {
	rs, ok := r.res[id]
	if !ok {
		if typ, ok := r.implicit[id]; ok {
			return r.placeholderAttr(typ, id, attr), nil
		}
		return "", r.errorf(at, res, "!GetAtt %s.%s: there is no resource %s in this template (fix the logical id)", id, attr, id)
	}
	if r.active != nil {
		ok, err := r.active(id)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", r.errorf(at, res, "resource %s is referenced here but removed by its Condition %s (guard this reference with !If on the same condition)", id, rs.Condition)
		}
	}
	known := func(names ...string) error {
		return r.errorf(at, res, "!GetAtt %s.%s: %s (%s) has no attribute %s (it has %s)", id, attr, id, rs.Type, attr, strings.Join(names, ", "))
	}
	switch rs.Type {
	case TypeFunction:
		name, err := r.physicalName(id)
		if err != nil {
			return "", err
		}
		if attr != "Arn" {
			return "", known("Arn")
		}
		return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", r.region(), r.account(), name), nil
	case TypeTable, TypeSimpleTable:
		name, err := r.physicalName(id)
		if err != nil {
			return "", err
		}
		arn := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", r.region(), r.account(), name)
		switch attr {
		case "Arn":
			return arn, nil
		case "StreamArn":
			return arn + "/stream/1970-01-01T00:00:00.000", nil
		}
		return "", known("Arn", "StreamArn")
	case TypeBucket:
		name, err := r.physicalName(id)
		if err != nil {
			return "", err
		}
		sfx := r.pseudo["AWS::URLSuffix"].Value
		switch attr {
		case "Arn":
			return "arn:aws:s3:::" + name, nil
		case "DomainName":
			return name + ".s3." + sfx, nil
		case "DualStackDomainName":
			return name + ".s3.dualstack." + r.region() + "." + sfx, nil
		case "RegionalDomainName":
			return name + ".s3." + r.region() + "." + sfx, nil
		case "WebsiteURL":
			return "http://" + name + ".s3-website-" + r.region() + "." + sfx, nil
		}
		return "", known("Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL")
	case TypeLayer:
		name, err := r.physicalName(id)
		if err != nil {
			return "", err
		}
		if attr != "Arn" {
			return "", known("Arn")
		}
		return r.layerARN(name), nil
	case TypeAPI, TypeHTTPAPI:
		if attr == "RootResourceId" {
			return "/", nil
		}
	}
	return r.placeholderAttr(rs.Type, id, attr), nil
}

// placeholderAttr gives a stable stand-in for attributes of resources esb does
// not run (IAM roles, queues …), so templates that mention them still compile.
func (r *resolver) placeholderAttr(typ, id, attr string) string {
	if attr == "Arn" {
		svc := "cloudformation"
		if parts := strings.Split(typ, "::"); len(parts) == 3 {
			svc = strings.ToLower(parts[1])
		}
		if svc == "iam" || svc == "serverless" && strings.HasSuffix(id, "Role") {
			return fmt.Sprintf("arn:aws:iam::%s:role/%s", r.account(), id)
		}
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", svc, r.region(), r.account(), id)
	}
	return id + "." + attr
}

// resolveString resolves n and requires a string-like scalar.
func (r *resolver) resolveString(n, at *Node, res, fn string) (*Node, error) {
	v, err := r.resolve(n, res)
	if err != nil {
		return nil, err
	}
	if v == noValue || v.Kind == KindNull {
		return scalar("", at.Line), nil
	}
	if v.Kind != KindScalar {
		return nil, r.errorf(at, res, "%s needs a string here, got %s", fn, v)
	}
	return v, nil
}

// resolveList resolves n and requires a list.
func (r *resolver) resolveList(n, at *Node, res, fn string) (*Node, error) {
	v, err := r.resolve(n, res)
	if err != nil {
		return nil, err
	}
	if v == noValue || v.Kind != KindSeq {
		return nil, r.errorf(at, res, "%s needs a list here, got %s", fn, v)
	}
	return v, nil
}

// sub implements Fn::Sub in both forms: "text" and [text, {Var: value}].
func (r *resolver) sub(arg, at *Node, res string) (*Node, error) {
	tmpl := arg
	var vars map[string]*Node
	if arg.Kind == KindSeq {
		if len(arg.Items) != 2 {
			return nil, r.errorf(at, res, "!Sub needs a string or [string, {Name: value}]")
		}
		tmpl = arg.Items[0]
		m := arg.Items[1]
		if m.Kind != KindMap {
			return nil, r.errorf(at, res, "!Sub variables must be a mapping {Name: value}")
		}
		vars = make(map[string]*Node, len(m.Fields))
		for _, f := range m.Fields {
			v, err := r.resolveString(f.Value, at, res, "!Sub variable "+f.Key)
			if err != nil {
				return nil, err
			}
			vars[f.Key] = v
		}
	}
	if tmpl.Kind != KindScalar {
		return nil, r.errorf(at, res, "!Sub needs a string template")
	}
	s := tmpl.Value
	var b strings.Builder
	var via []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i+2:]
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return nil, r.errorf(at, res, "!Sub %q has an unclosed ${", tmpl.Value)
		}
		name := strings.TrimSpace(s[:j])
		s = s[j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		if name == "" {
			return nil, r.errorf(at, res, "!Sub %q has an empty ${}", tmpl.Value)
		}
		var v *Node
		if lv, ok := vars[name]; ok {
			v = lv
		} else if id, attr, ok := strings.Cut(name, "."); ok && !strings.Contains(id, "::") {
			a, err := r.attribute(id, attr, at, res)
			if err != nil {
				return nil, err
			}
			v = scalar(a, at.Line)
		} else {
			rv, err := r.ref(name, at, res)
			if err != nil {
				return nil, err
			}
			if rv == noValue {
				rv = scalar("", at.Line)
			}
			v = rv
		}
		switch v.Kind {
		case KindScalar:
			b.WriteString(v.Value)
		case KindSeq:
			parts := make([]string, 0, len(v.Items))
			for _, it := range v.Items {
				parts = append(parts, it.Value)
			}
			b.WriteString(strings.Join(parts, ","))
		case KindNull:
		default:
			return nil, r.errorf(at, res, "!Sub ${%s} is not a string", name)
		}
		via = appendVia(via, v.Via...)
	}
	out := scalar(b.String(), at.Line)
	out.Via = via
	return out, nil
}

func appendVia(dst []string, src ...string) []string {
	for _, s := range src {
		dup := false
		for _, d := range dst {
			if d == s {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, s)
		}
	}
	return dst
}

func (r *resolver) join(arg, at *Node, res string) (*Node, error) {
	if arg.Kind != KindSeq || len(arg.Items) != 2 {
		return nil, r.errorf(at, res, "!Join needs [delimiter, [values…]]")
	}
	d, err := r.resolveString(arg.Items[0], at, res, "!Join delimiter")
	if err != nil {
		return nil, err
	}
	list, err := r.resolveList(arg.Items[1], at, res, "!Join")
	if err != nil {
		return nil, err
	}
	parts := make([]string, 0, len(list.Items))
	var via []string
	for _, it := range list.Items {
		if it.Kind == KindNull {
			parts = append(parts, "")
			continue
		}
		if it.Kind != KindScalar {
			return nil, r.errorf(at, res, "!Join can only join strings, got %s", it)
		}
		parts = append(parts, it.Value)
		via = appendVia(via, it.Via...)
	}
	out := scalar(strings.Join(parts, d.Value), at.Line)
	out.Via = via
	return out, nil
}

func (r *resolver) selectFn(arg, at *Node, res string) (*Node, error) {
	if arg.Kind != KindSeq || len(arg.Items) != 2 {
		return nil, r.errorf(at, res, "!Select needs [index, [values…]]")
	}
	idx, err := r.resolveString(arg.Items[0], at, res, "!Select index")
	if err != nil {
		return nil, err
	}
	i, err := strconv.Atoi(idx.Value)
	if err != nil || i < 0 {
		return nil, r.errorf(at, res, "!Select index %q must be a non-negative integer", idx.Value)
	}
	list, err := r.resolveList(arg.Items[1], at, res, "!Select")
	if err != nil {
		return nil, err
	}
	if i >= len(list.Items) {
		return nil, r.errorf(at, res, "!Select index %d is out of range (the list has %d values)", i, len(list.Items))
	}
	return list.Items[i], nil
}

func (r *resolver) split(arg, at *Node, res string) (*Node, error) {
	if arg.Kind != KindSeq || len(arg.Items) != 2 {
		return nil, r.errorf(at, res, "!Split needs [delimiter, string]")
	}
	d, err := r.resolveString(arg.Items[0], at, res, "!Split delimiter")
	if err != nil {
		return nil, err
	}
	if d.Value == "" {
		return nil, r.errorf(at, res, "!Split delimiter must not be empty")
	}
	s, err := r.resolveString(arg.Items[1], at, res, "!Split")
	if err != nil {
		return nil, err
	}
	out := &Node{Kind: KindSeq, Line: at.Line}
	for _, p := range strings.Split(s.Value, d.Value) {
		n := scalar(p, at.Line)
		n.Via = s.Via
		out.Items = append(out.Items, n)
	}
	return out, nil
}

func (r *resolver) findInMap(arg, at *Node, res string) (*Node, error) {
	if arg.Kind != KindSeq || len(arg.Items) < 3 {
		return nil, r.errorf(at, res, "!FindInMap needs [MapName, TopLevelKey, SecondLevelKey]")
	}
	keys := make([]string, 3)
	var via []string
	for i := 0; i < 3; i++ {
		v, err := r.resolveString(arg.Items[i], at, res, "!FindInMap")
		if err != nil {
			return nil, err
		}
		keys[i] = v.Value
		via = appendVia(via, v.Via...)
	}
	m := r.t.Mappings.Get(keys[0])
	if m == nil {
		return nil, r.errorf(at, res, "!FindInMap: there is no mapping %q under Mappings", keys[0])
	}
	top := m.Get(keys[1])
	if top == nil {
		return nil, r.errorf(at, res, "!FindInMap: Mappings.%s has no key %q (add it or change the key)", keys[0], keys[1])
	}
	v := top.Get(keys[2])
	if v == nil {
		return nil, r.errorf(at, res, "!FindInMap: Mappings.%s.%s has no key %q (add it or change the key)", keys[0], keys[1], keys[2])
	}
	out := cloneAt(v, at.Line)
	out.Via = appendVia(via, fmt.Sprintf("Mappings.%s.%s.%s (%s:%d)", keys[0], keys[1], keys[2], r.t.File, v.Line))
	return out, nil
}

func (r *resolver) ifFn(arg, at *Node, res string) (*Node, error) {
	if arg.Kind != KindSeq || len(arg.Items) != 3 || arg.Items[0].Kind != KindScalar {
		return nil, r.errorf(at, res, "!If needs [ConditionName, value if true, value if false]")
	}
	ok, err := r.condition(arg.Items[0].Value, at, res)
	if err != nil {
		return nil, err
	}
	pick := arg.Items[2]
	if ok {
		pick = arg.Items[1]
	}
	v, err := r.resolve(pick, res)
	if err != nil {
		return nil, err
	}
	if v != noValue {
		cp := *v
		cp.Via = appendVia(append([]string(nil), v.Via...), fmt.Sprintf("condition %s is %t", arg.Items[0].Value, ok))
		v = &cp
	}
	return v, nil
}

// condition evaluates a named condition of the Conditions section, once.
func (r *resolver) condition(name string, at *Node, res string) (bool, error) {
	c, ok := r.conds[name]
	if !ok {
		return false, r.errorf(at, res, "unknown condition %q (declare it under Conditions)", name)
	}
	switch c.state {
	case 2:
		return c.value, nil
	case 1:
		chain := []string{name}
		for i := len(r.condStack) - 1; i >= 0 && r.condStack[i] != name; i-- {
			chain = append(chain, r.condStack[i])
		}
		chain = append(chain, name)
		for i, j := 1, len(chain)-2; i < j; i, j = i+1, j-1 {
			chain[i], chain[j] = chain[j], chain[i]
		}
		return false, &Error{File: r.t.File, Line: c.line, Msg: fmt.Sprintf("condition %s: cycle in Conditions (%s); a condition cannot depend on itself", name, strings.Join(chain, " -> "))}
	}
	c.state = 1
	r.condStack = append(r.condStack, name)
	v, err := r.evalCond(c.node, "")
	r.condStack = r.condStack[:len(r.condStack)-1]
	if err != nil {
		return false, err
	}
	c.state, c.value = 2, v
	return v, nil
}

// evalCond evaluates a condition expression (Fn::Equals, Fn::And, Fn::Or,
// Fn::Not, Condition).
func (r *resolver) evalCond(n *Node, res string) (bool, error) {
	name, arg, ok := n.intrinsic(true)
	if !ok {
		if n.Kind == KindScalar && (n.Value == "true" || n.Value == "false") {
			return n.Value == "true", nil
		}
		return false, r.errorf(n, res, "a condition must be !Equals, !And, !Or, !Not or !Condition, got %s", n)
	}
	switch name {
	case "Condition":
		if arg.Kind != KindScalar {
			return false, r.errorf(n, res, "!Condition needs a condition name")
		}
		return r.condition(arg.Value, n, res)
	case "Fn::Equals":
		if arg.Kind != KindSeq || len(arg.Items) != 2 {
			return false, r.errorf(n, res, "!Equals needs [value, value]")
		}
		a, err := r.resolve(arg.Items[0], res)
		if err != nil {
			return false, err
		}
		b, err := r.resolve(arg.Items[1], res)
		if err != nil {
			return false, err
		}
		return canonical(a) == canonical(b), nil
	case "Fn::Not":
		if arg.Kind != KindSeq || len(arg.Items) != 1 {
			return false, r.errorf(n, res, "!Not needs [condition]")
		}
		v, err := r.evalCond(arg.Items[0], res)
		return !v, err
	case "Fn::And", "Fn::Or":
		if arg.Kind != KindSeq || len(arg.Items) < 2 || len(arg.Items) > 10 {
			return false, r.errorf(n, res, "%s needs a list of 2 to 10 conditions", "!"+name[4:])
		}
		and := name == "Fn::And"
		result := and
		for _, it := range arg.Items {
			v, err := r.evalCond(it, res)
			if err != nil {
				return false, err
			}
			if and {
				result = result && v
			} else {
				result = result || v
			}
		}
		return result, nil
	case "Fn::If":
		v, err := r.ifFn(arg, n, res)
		if err != nil {
			return false, err
		}
		return r.evalCond(v, res)
	}
	return false, r.errorf(n, res, "%s cannot be used as a condition (use !Equals, !And, !Or, !Not or !Condition)", name)
}

// canonical renders a resolved value for comparison.
func canonical(n *Node) string {
	switch {
	case n == nil || n.Kind == KindNull:
		return ""
	case n.Kind == KindScalar:
		return n.Value
	case n.Kind == KindSeq:
		parts := make([]string, len(n.Items))
		for i, it := range n.Items {
			parts[i] = canonical(it)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	parts := make([]string, len(n.Fields))
	for i, f := range n.Fields {
		parts[i] = f.Key + ":" + canonical(f.Value)
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}
