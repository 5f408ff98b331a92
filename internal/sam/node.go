package sam

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind is the shape of a Node.
type Kind uint8

// Node kinds.
const (
	KindNull Kind = iota
	KindScalar
	KindSeq
	KindMap
)

// Node is one value of a template: a scalar, a sequence or a mapping (intrinsic
// functions are mappings with one "Ref", "Condition" or "Fn::…" key, whether the
// template used the long or the short YAML form). Nodes remember their line, so
// every error can name it.
type Node struct {
	Kind Kind
	// Tag is the YAML tag of a scalar: "!!str", "!!int", "!!float", "!!bool".
	Tag string
	// Value is the text of a scalar.
	Value string
	// Items are the elements of a sequence.
	Items []*Node
	// Fields are the entries of a mapping, in document order.
	Fields []Field
	// Line is the 1-based line of the value in the template.
	Line int
	// Global marks a value that came from the template's Globals section.
	Global bool
	// Via lists how a resolved value was obtained (parameters it came from).
	Via []string
}

// Field is one key and value of a mapping.
type Field struct {
	Key   string
	Line  int
	Value *Node
}

// Get returns the value of key in a mapping, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != KindMap {
		return nil
	}
	for i := range n.Fields {
		if n.Fields[i].Key == key {
			return n.Fields[i].Value
		}
	}
	return nil
}

// IsNull reports whether n is absent or a YAML null.
func (n *Node) IsNull() bool { return n == nil || n.Kind == KindNull }

// intrinsic returns the function name and argument when n is an intrinsic
// function call ({"Ref": …} or {"Fn::X": …}); conditionToo also accepts
// {"Condition": …}, which is a function only inside condition expressions.
func (n *Node) intrinsic(conditionToo bool) (string, *Node, bool) {
	if n == nil || n.Kind != KindMap || len(n.Fields) != 1 {
		return "", nil, false
	}
	k := n.Fields[0].Key
	if k == "Ref" || strings.HasPrefix(k, "Fn::") || (conditionToo && k == "Condition") {
		return k, n.Fields[0].Value, true
	}
	return "", nil, false
}

// String renders a scalar's text, or a short description of other kinds.
func (n *Node) String() string {
	switch {
	case n == nil || n.Kind == KindNull:
		return "null"
	case n.Kind == KindScalar:
		return n.Value
	case n.Kind == KindSeq:
		return "a list"
	}
	if name, _, ok := n.intrinsic(true); ok {
		return name
	}
	return "a mapping"
}

// scalar makes a resolved string scalar.
func scalar(v string, line int) *Node {
	return &Node{Kind: KindScalar, Tag: "!!str", Value: v, Line: line}
}

// boolNode makes a resolved boolean scalar.
func boolNode(v bool, line int) *Node {
	return &Node{Kind: KindScalar, Tag: "!!bool", Value: strconv.FormatBool(v), Line: line}
}

// shortForms maps the YAML short-form tags to the long-form function names.
var shortForms = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!Sub":          "Fn::Sub",
	"!GetAtt":       "Fn::GetAtt",
	"!Join":         "Fn::Join",
	"!If":           "Fn::If",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!FindInMap":    "Fn::FindInMap",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!Base64":       "Fn::Base64",
	"!GetAZs":       "Fn::GetAZs",
	"!ImportValue":  "Fn::ImportValue",
	"!Cidr":         "Fn::Cidr",
	"!Transform":    "Fn::Transform",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
}

const shortFormList = "!Ref, !Sub, !GetAtt, !Join, !If, !Select, !Split, !FindInMap, !Equals, !Not, !And, !Or, !Condition, !Base64, !GetAZs"

// maxNodes bounds the size of a template after YAML aliases are expanded, so a
// few bytes of nested aliases cannot exhaust memory.
const maxNodes = 100_000

// maxDepth bounds nesting.
const maxDepth = 200

// converter turns yaml.v3 nodes into Nodes.
type converter struct {
	file string
	// budget is how many values may still be produced, counting every
	// expansion of an alias.
	budget int
	// anchors caches converted alias targets and their expanded sizes, so
	// an alias costs its size in budget but is converted only once.
	anchors map[*yaml.Node]anchored
}

type anchored struct {
	node *Node
	size int
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parseYAML parses template text into a Node tree.
func parseYAML(file string, data []byte) (*Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, data, err)
	}
	c := &converter{file: file, budget: maxNodes, anchors: map[*yaml.Node]anchored{}}
	return c.convert(&doc, 0)
}

// yamlError turns a yaml.v3 error into a one-line Error with the line number.
func yamlError(file string, data []byte, err error) error {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if line > 0 {
		line = problemLine(data, msg, line)
	}
	return &Error{File: file, Line: line, Msg: "YAML syntax error: " + msg + " (check the indentation and quoting there)"}
}

// problemLine finds the line that breaks the document. yaml.v3 reports the
// line where the enclosing block starts (line 2 for a bad key on line 6), so
// look for the shortest prefix of the document that fails with the same
// message: it ends at the offending line. Once a prefix includes that line,
// every longer one fails the same way, so a binary search finds it with
// O(log n) parses.
func problemLine(data []byte, msg string, from int) int {
	ends := []int{} // ends[i] is the byte offset after line i+1
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	failsSame := func(lines int) bool {
		var n yaml.Node
		err := yaml.Unmarshal(data[:ends[lines-1]], &n)
		if err == nil {
			return false
		}
		m := yamlLine.FindStringSubmatch(strings.ReplaceAll(err.Error(), "\n", "; "))
		return m != nil && m[2] == msg
	}
	lo, hi := from, len(ends)
	if lo < 1 || lo > hi || !failsSame(hi) {
		return from
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if failsSame(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (c *converter) errorf(line int, format string, args ...any) error {
	return &Error{File: c.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (c *converter) convert(y *yaml.Node, depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, c.errorf(y.Line, "values are nested more than %d levels deep", maxDepth)
	}
	c.budget--
	if c.budget < 0 {
		return nil, c.errorf(y.Line, "template is too large (more than %d values after expanding YAML aliases)", maxNodes)
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &Node{Kind: KindNull, Line: y.Line}, nil
		}
		return c.convert(y.Content[0], depth+1)
	case yaml.AliasNode:
		if y.Alias == nil {
			return nil, c.errorf(y.Line, "YAML alias *%s has no anchor", y.Value)
		}
		a, ok := c.anchors[y.Alias]
		if ok {
			c.budget -= a.size
			if c.budget < 0 {
				return nil, c.errorf(y.Line, "template is too large (more than %d values after expanding YAML aliases)", maxNodes)
			}
		} else {
			before := c.budget
			n, err := c.convert(y.Alias, depth+1)
			if err != nil {
				return nil, err
			}
			a = anchored{node: n, size: before - c.budget}
			c.anchors[y.Alias] = a
		}
		cp := *a.node
		cp.Line = y.Line
		return &cp, nil
	case yaml.ScalarNode:
		tag := y.ShortTag()
		var n *Node
		switch tag {
		case "!!null":
			n = &Node{Kind: KindNull, Line: y.Line}
		case "!!str", "!!int", "!!float", "!!bool":
			n = &Node{Kind: KindScalar, Tag: tag, Value: y.Value, Line: y.Line}
		default:
			// Other YAML types (!!timestamp, !!binary) and the scalar argument
			// of a short-form function (!Ref X) are plain strings.
			n = &Node{Kind: KindScalar, Tag: "!!str", Value: y.Value, Line: y.Line}
		}
		return c.wrapTag(y, n)
	case yaml.SequenceNode:
		n := &Node{Kind: KindSeq, Line: y.Line, Items: make([]*Node, 0, len(y.Content))}
		for _, item := range y.Content {
			v, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			n.Items = append(n.Items, v)
		}
		return c.wrapTag(y, n)
	case yaml.MappingNode:
		n, err := c.mapping(y, depth)
		if err != nil {
			return nil, err
		}
		return c.wrapTag(y, n)
	}
	return nil, c.errorf(y.Line, "unexpected YAML node")
}

func (c *converter) mapping(y *yaml.Node, depth int) (*Node, error) {
	n := &Node{Kind: KindMap, Line: y.Line, Fields: make([]Field, 0, len(y.Content)/2)}
	seen := make(map[string]int, len(y.Content)/2)
	var merged []*Node
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, c.errorf(k.Line, "mapping keys must be plain strings")
		}
		if k.ShortTag() == "!!merge" {
			m, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			switch m.Kind {
			case KindMap:
				merged = append(merged, m)
			case KindSeq:
				for _, it := range m.Items {
					if it.Kind != KindMap {
						return nil, c.errorf(v.Line, "YAML merge key << needs a mapping or a list of mappings")
					}
					merged = append(merged, it)
				}
			default:
				return nil, c.errorf(v.Line, "YAML merge key << needs a mapping or a list of mappings")
			}
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			return nil, c.errorf(k.Line, "key %q is defined twice in this mapping (first on line %d); keep one", k.Value, prev)
		}
		seen[k.Value] = k.Line
		val, err := c.convert(v, depth+1)
		if err != nil {
			return nil, err
		}
		n.Fields = append(n.Fields, Field{Key: k.Value, Line: k.Line, Value: val})
	}
	for _, m := range merged {
		for _, f := range m.Fields {
			if _, ok := seen[f.Key]; ok {
				continue
			}
			seen[f.Key] = f.Line
			n.Fields = append(n.Fields, f)
		}
	}
	return n, nil
}

// wrapTag turns a short-form tagged value (!Ref X) into its long form ({Ref: X}).
func (c *converter) wrapTag(y *yaml.Node, n *Node) (*Node, error) {
	tag := y.Tag
	if tag == "" || strings.HasPrefix(tag, "!!") || tag == "!" || strings.HasPrefix(tag, "tag:yaml.org,2002:") {
		return n, nil
	}
	name, ok := shortForms[tag]
	if !ok {
		return nil, c.errorf(y.Line, "unknown YAML tag %s (esb understands %s)", tag, shortFormList)
	}
	if name == "Fn::GetAtt" && n.Kind == KindScalar {
		res, attr, found := strings.Cut(n.Value, ".")
		if !found || res == "" || attr == "" {
			return nil, c.errorf(y.Line, "!GetAtt %q must be Resource.Attribute", n.Value)
		}
		n = &Node{Kind: KindSeq, Line: n.Line, Items: []*Node{scalar(res, n.Line), scalar(attr, n.Line)}}
	}
	return &Node{Kind: KindMap, Line: y.Line, Fields: []Field{{Key: name, Line: y.Line, Value: n}}}, nil
}
