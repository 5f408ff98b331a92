package sam

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
)

// Template is a parsed SAM template, before intrinsic functions are resolved.
type Template struct {
	// File is the template's display name, used in every message.
	File string
	// Transforms lists the template's Transform entries.
	Transforms []string
	// Parameters are the declared parameters, in document order.
	Parameters []*Parameter
	// Mappings, Conditions and Globals are the raw sections (nil when absent).
	Mappings   *Node
	Conditions *Node
	Globals    *Node
	// Resources are the declared resources, in document order.
	Resources []*Resource

	root *Node
}

// Parameter is one entry of the template's Parameters section.
type Parameter struct {
	Name        string
	Line        int
	Type        string
	Description string
	// Default is nil when the parameter has no default.
	Default               *string
	AllowedValues         []string
	AllowedPattern        string
	ConstraintDescription string
	MinLength, MaxLength  *int
	MinValue, MaxValue    *float64
	NoEcho                bool
}

// IsList reports whether the parameter's value is a comma-separated list.
func (p *Parameter) IsList() bool {
	return p.Type == "CommaDelimitedList" || (len(p.Type) > 5 && p.Type[:5] == "List<")
}

// Resource is one entry of the template's Resources section.
type Resource struct {
	LogicalID  string
	Line       int
	Type       string
	Properties *Node
	Metadata   *Node
	// Condition names the condition that must hold for the resource to exist.
	Condition string
}

var logicalIDPattern = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// ParseFile reads and parses a template file; name is how messages refer to it.
func ParseFile(path, name string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", path, err)
	}
	return Parse(name, data)
}

// Parse parses template text. It checks the structure (sections, resource
// types, parameter declarations) but resolves nothing.
func Parse(name string, data []byte) (*Template, error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	t := &Template{File: name, root: root}
	if root.Kind != KindMap {
		return nil, &Error{File: name, Line: root.Line, Msg: "a template must be a YAML mapping with a Resources section"}
	}
	for _, f := range root.Fields {
		switch f.Key {
		case "Transform":
			if err := t.parseTransform(f.Value); err != nil {
				return nil, err
			}
		case "Parameters":
			if err := t.parseParameters(f.Value); err != nil {
				return nil, err
			}
		case "Mappings":
			if !f.Value.IsNull() && f.Value.Kind != KindMap {
				return nil, t.errorf(f.Value.Line, "", "Mappings must be a mapping of maps")
			}
			t.Mappings = f.Value
		case "Conditions":
			if !f.Value.IsNull() && f.Value.Kind != KindMap {
				return nil, t.errorf(f.Value.Line, "", "Conditions must be a mapping from names to conditions")
			}
			t.Conditions = f.Value
		case "Globals":
			if !f.Value.IsNull() && f.Value.Kind != KindMap {
				return nil, t.errorf(f.Value.Line, "", "Globals must be a mapping (Function, Api, HttpApi, SimpleTable)")
			}
			t.Globals = globalCopy(f.Value)
		case "Resources":
			if err := t.parseResources(f.Value); err != nil {
				return nil, err
			}
		}
	}
	if root.Get("Resources") == nil {
		return nil, t.errorf(root.Line, "", "the template has no Resources section")
	}
	return t, nil
}

func (t *Template) errorf(line int, resource, format string, args ...any) error {
	return &Error{File: t.File, Line: line, Resource: resource, Msg: fmt.Sprintf(format, args...)}
}

// globalCopy copies the Globals section, marking every value as global. It
// copies rather than marks in place because YAML aliases may share values
// with resources.
func globalCopy(n *Node) *Node {
	if n == nil {
		return nil
	}
	cp := *n
	cp.Global = true
	if n.Items != nil {
		cp.Items = make([]*Node, len(n.Items))
		for i, it := range n.Items {
			cp.Items[i] = globalCopy(it)
		}
	}
	if n.Fields != nil {
		cp.Fields = make([]Field, len(n.Fields))
		for i, f := range n.Fields {
			cp.Fields[i] = Field{Key: f.Key, Line: f.Line, Value: globalCopy(f.Value)}
		}
	}
	return &cp
}

func (t *Template) parseTransform(n *Node) error {
	switch n.Kind {
	case KindScalar:
		t.Transforms = []string{n.Value}
	case KindSeq:
		for _, it := range n.Items {
			if it.Kind != KindScalar {
				return t.errorf(it.Line, "", "Transform entries must be names such as AWS::Serverless-2016-10-31 (esb does not run macros)")
			}
			t.Transforms = append(t.Transforms, it.Value)
		}
	case KindNull:
	default:
		return t.errorf(n.Line, "", "Transform must be AWS::Serverless-2016-10-31 (esb does not run macros such as AWS::Include)")
	}
	return nil
}

func (t *Template) parseParameters(n *Node) error {
	if n.IsNull() {
		return nil
	}
	if n.Kind != KindMap {
		return t.errorf(n.Line, "", "Parameters must be a mapping from names to declarations")
	}
	for _, f := range n.Fields {
		if !logicalIDPattern.MatchString(f.Key) {
			return t.errorf(f.Line, "", "parameter name %q must be alphanumeric", f.Key)
		}
		d := f.Value
		if d.Kind != KindMap {
			return t.errorf(f.Line, "", "parameter %s must be a mapping with at least a Type", f.Key)
		}
		p := &Parameter{Name: f.Key, Line: f.Line, Type: "String"}
		for _, pf := range d.Fields {
			v := pf.Value
			switch pf.Key {
			case "Type":
				if v.Kind != KindScalar {
					return t.errorf(pf.Line, "", "parameter %s: Type must be a string such as String or Number", f.Key)
				}
				p.Type = v.Value
			case "Default":
				s, err := paramScalar(v)
				if err != nil {
					return t.errorf(pf.Line, "", "parameter %s: Default must be a plain value (intrinsic functions are not allowed here)", f.Key)
				}
				p.Default = &s
			case "AllowedValues":
				if v.Kind != KindSeq {
					return t.errorf(pf.Line, "", "parameter %s: AllowedValues must be a list", f.Key)
				}
				for _, it := range v.Items {
					s, err := paramScalar(it)
					if err != nil {
						return t.errorf(it.Line, "", "parameter %s: AllowedValues entries must be plain values", f.Key)
					}
					p.AllowedValues = append(p.AllowedValues, s)
				}
			case "AllowedPattern":
				p.AllowedPattern = v.Value
				if _, err := regexp.Compile("^(?:" + v.Value + ")$"); err != nil {
					return t.errorf(pf.Line, "", "parameter %s: AllowedPattern %q is not a valid regular expression", f.Key, v.Value)
				}
			case "Description":
				p.Description = v.Value
			case "ConstraintDescription":
				p.ConstraintDescription = v.Value
			case "NoEcho":
				p.NoEcho = v.Value == "true"
			case "MinLength", "MaxLength":
				i, err := strconv.Atoi(v.Value)
				if err != nil {
					return t.errorf(pf.Line, "", "parameter %s: %s must be an integer", f.Key, pf.Key)
				}
				if pf.Key == "MinLength" {
					p.MinLength = &i
				} else {
					p.MaxLength = &i
				}
			case "MinValue", "MaxValue":
				x, err := strconv.ParseFloat(v.Value, 64)
				if err != nil {
					return t.errorf(pf.Line, "", "parameter %s: %s must be a number", f.Key, pf.Key)
				}
				if pf.Key == "MinValue" {
					p.MinValue = &x
				} else {
					p.MaxValue = &x
				}
			}
		}
		if p.Default != nil {
			if err := p.Check(*p.Default); err != nil {
				return t.errorf(f.Line, "", "parameter %s: Default %s", f.Key, err)
			}
		}
		t.Parameters = append(t.Parameters, p)
	}
	return nil
}

// paramScalar reads a plain scalar (a list of scalars is joined with commas,
// as CloudFormation does for list parameters).
func paramScalar(n *Node) (string, error) {
	switch n.Kind {
	case KindScalar:
		return n.Value, nil
	case KindNull:
		return "", nil
	case KindSeq:
		var s string
		for i, it := range n.Items {
			if it.Kind != KindScalar {
				return "", fmt.Errorf("not a plain value")
			}
			if i > 0 {
				s += ","
			}
			s += it.Value
		}
		return s, nil
	}
	return "", fmt.Errorf("not a plain value")
}

func (t *Template) parseResources(n *Node) error {
	if n.Kind != KindMap {
		return t.errorf(n.Line, "", "Resources must be a mapping from logical ids to resources")
	}
	if len(n.Fields) == 0 {
		return t.errorf(n.Line, "", "Resources is empty; declare at least one resource")
	}
	for _, f := range n.Fields {
		if !logicalIDPattern.MatchString(f.Key) {
			return t.errorf(f.Line, f.Key, "logical id must be alphanumeric (A-Z, a-z, 0-9)")
		}
		if f.Value.Kind != KindMap {
			return t.errorf(f.Line, f.Key, "a resource must be a mapping with Type and Properties")
		}
		r := &Resource{LogicalID: f.Key, Line: f.Line}
		typ := f.Value.Get("Type")
		if typ == nil || typ.Kind != KindScalar || typ.Value == "" {
			return t.errorf(f.Line, f.Key, "Type is missing (e.g. Type: AWS::Serverless::Function)")
		}
		r.Type = typ.Value
		r.Properties = f.Value.Get("Properties")
		if r.Properties != nil && r.Properties.Kind != KindMap && r.Properties.Kind != KindNull {
			return t.errorf(r.Properties.Line, f.Key, "Properties must be a mapping")
		}
		if r.Properties == nil || r.Properties.Kind == KindNull {
			r.Properties = &Node{Kind: KindMap, Line: f.Line}
		}
		r.Metadata = f.Value.Get("Metadata")
		if c := f.Value.Get("Condition"); c != nil {
			if c.Kind != KindScalar {
				return t.errorf(c.Line, f.Key, "Condition must be the name of a condition in the Conditions section")
			}
			r.Condition = c.Value
		}
		t.Resources = append(t.Resources, r)
	}
	return nil
}

// Check validates a value against the parameter's type and constraints; the
// error says what is wrong without naming the parameter.
func (p *Parameter) Check(v string) error {
	if len(p.AllowedValues) > 0 {
		ok := false
		for _, a := range p.AllowedValues {
			if a == v {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%q is not one of the AllowedValues %v", v, p.AllowedValues)
		}
	}
	if p.AllowedPattern != "" {
		re, err := regexp.Compile("^(?:" + p.AllowedPattern + ")$")
		if err == nil && !re.MatchString(v) {
			return fmt.Errorf("%q does not match the AllowedPattern %s%s", v, p.AllowedPattern, constraint(p))
		}
	}
	if p.MinLength != nil && len(v) < *p.MinLength {
		return fmt.Errorf("%q is shorter than MinLength %d%s", v, *p.MinLength, constraint(p))
	}
	if p.MaxLength != nil && len(v) > *p.MaxLength {
		return fmt.Errorf("%q is longer than MaxLength %d%s", v, *p.MaxLength, constraint(p))
	}
	if p.Type == "Number" || p.MinValue != nil || p.MaxValue != nil {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		if p.MinValue != nil && x < *p.MinValue {
			return fmt.Errorf("%s is below MinValue %g%s", v, *p.MinValue, constraint(p))
		}
		if p.MaxValue != nil && x > *p.MaxValue {
			return fmt.Errorf("%s is above MaxValue %g%s", v, *p.MaxValue, constraint(p))
		}
	}
	if p.Type == "List<Number>" && v != "" {
		for _, s := range splitList(v) {
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return fmt.Errorf("%q is not a list of numbers", v)
			}
		}
	}
	return nil
}

func constraint(p *Parameter) string {
	if p.ConstraintDescription == "" {
		return ""
	}
	return " (" + p.ConstraintDescription + ")"
}
