package expr

import (
	"sort"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

// LegacyCondition is one entry of the legacy Expected, KeyConditions,
// QueryFilter and ScanFilter parameters.
type LegacyCondition struct {
	ComparisonOperator string       `json:"ComparisonOperator,omitempty"`
	AttributeValueList []attr.Value `json:"AttributeValueList,omitempty"`
	Value              *attr.Value  `json:"Value,omitempty"`
	Exists             *bool        `json:"Exists,omitempty"`
}

// LegacyUpdate is one entry of the legacy AttributeUpdates parameter.
type LegacyUpdate struct {
	Action string      `json:"Action,omitempty"`
	Value  *attr.Value `json:"Value,omitempty"`
}

func pathOp(name string) *Operand { return &Operand{Kind: OpPath, Path: Path{{Name: name}}} }
func valOp(v attr.Value) *Operand { return &Operand{Kind: OpValue, Value: v} }

func invalid(msg string) error {
	return &Error{"One or more parameter values were invalid: " + msg}
}

// FromLegacy turns legacy conditions into a condition tree joined by
// ConditionalOperator (AND by default).
func FromLegacy(conds map[string]LegacyCondition, conditionalOperator string) (*Cond, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(conds))
	for k := range conds {
		names = append(names, k)
	}
	sort.Strings(names)
	var out *Cond
	for _, name := range names {
		c, err := legacyOne(name, conds[name])
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = c
			continue
		}
		kind := CondAnd
		if conditionalOperator == "OR" {
			kind = CondOr
		}
		out = &Cond{Kind: kind, Sub: []*Cond{out, c}}
	}
	return out, nil
}

func legacyOne(name string, lc LegacyCondition) (*Cond, error) {
	p := pathOp(name)
	if lc.ComparisonOperator == "" {
		if lc.AttributeValueList != nil {
			return nil, invalid("AttributeValueList can only be used with a ComparisonOperator for Attribute: " + name)
		}
		exists := lc.Exists == nil || *lc.Exists
		switch {
		case exists && lc.Value == nil:
			v := "null"
			if lc.Exists != nil {
				v = "true"
			}
			return nil, invalid("Value must be provided when Exists is " + v + " for Attribute: " + name)
		case !exists && lc.Value != nil:
			return nil, invalid("Value cannot be used when Exists is false for Attribute: " + name)
		case !exists:
			return &Cond{Kind: CondFunc, Op: "attribute_not_exists", Args: []*Operand{p}}, nil
		}
		return &Cond{Kind: CondCompare, Op: "=", Args: []*Operand{p, valOp(*lc.Value)}}, nil
	}
	if lc.Exists != nil {
		return nil, invalid("Exists and ComparisonOperator cannot be used together for Attribute: " + name)
	}
	vals := lc.AttributeValueList
	if lc.Value != nil {
		if vals != nil {
			return nil, invalid("Value and AttributeValueList cannot be used together for Attribute: " + name)
		}
		vals = []attr.Value{*lc.Value}
	}
	op := lc.ComparisonOperator
	nargs := map[string]int{"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "CONTAINS": 1, "NOT_CONTAINS": 1,
		"BEGINS_WITH": 1, "NULL": 0, "NOT_NULL": 0, "BETWEEN": 2, "IN": -1}
	n, ok := nargs[op]
	if !ok {
		return nil, &Error{"1 validation error detected: Value '" + op + "' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"}
	}
	if (n >= 0 && len(vals) != n) || (n < 0 && len(vals) == 0) {
		return nil, invalid("Invalid number of argument(s) for the " + op + " ComparisonOperator")
	}
	switch op {
	case "EQ", "NE", "LE", "LT", "GE", "GT":
		sym := map[string]string{"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}[op]
		if op != "EQ" && op != "NE" {
			if k := vals[0].Kind; k != attr.KindS && k != attr.KindN && k != attr.KindB {
				return nil, invalid("ComparisonOperator " + op + " is not valid for " + k.String() + " AttributeValue type")
			}
		}
		return &Cond{Kind: CondCompare, Op: sym, Args: []*Operand{p, valOp(vals[0])}}, nil
	case "NULL":
		return &Cond{Kind: CondFunc, Op: "attribute_not_exists", Args: []*Operand{p}}, nil
	case "NOT_NULL":
		return &Cond{Kind: CondFunc, Op: "attribute_exists", Args: []*Operand{p}}, nil
	case "CONTAINS":
		return &Cond{Kind: CondFunc, Op: "contains", Args: []*Operand{p, valOp(vals[0])}}, nil
	case "NOT_CONTAINS":
		c := &Cond{Kind: CondFunc, Op: "contains", Args: []*Operand{p, valOp(vals[0])}}
		return &Cond{Kind: CondAnd, Sub: []*Cond{
			{Kind: CondFunc, Op: "attribute_exists", Args: []*Operand{p}},
			{Kind: CondNot, Sub: []*Cond{c}},
		}}, nil
	case "BEGINS_WITH":
		if k := vals[0].Kind; k != attr.KindS && k != attr.KindB {
			return nil, invalid("ComparisonOperator BEGINS_WITH is not valid for " + k.String() + " AttributeValue type")
		}
		return &Cond{Kind: CondFunc, Op: "begins_with", Args: []*Operand{p, valOp(vals[0])}}, nil
	case "BETWEEN":
		return &Cond{Kind: CondBetween, Op: "BETWEEN", Args: []*Operand{p, valOp(vals[0]), valOp(vals[1])}}, nil
	case "IN":
		args := []*Operand{p}
		for _, v := range vals {
			args = append(args, valOp(v))
		}
		return &Cond{Kind: CondIn, Op: "IN", Args: args}, nil
	}
	return nil, invalid("Unsupported ComparisonOperator " + op)
}

// UpdateFromLegacy turns AttributeUpdates into an update tree.
func UpdateFromLegacy(ups map[string]LegacyUpdate) (*Update, error) {
	u := &Update{}
	names := make([]string, 0, len(ups))
	for k := range ups {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		lu := ups[name]
		path := Path{{Name: name}}
		action := lu.Action
		if action == "" {
			action = "PUT"
		}
		switch action {
		case "PUT":
			if lu.Value == nil {
				return nil, invalid("Only DELETE action is allowed when no attribute value is specified")
			}
			u.Set = append(u.Set, SetAction{Path: path, Value: valOp(*lu.Value)})
		case "DELETE":
			if lu.Value == nil {
				u.Remove = append(u.Remove, path)
				continue
			}
			if !lu.Value.Kind.IsSet() {
				return nil, invalid("DELETE action with value is not supported for the type " + lu.Value.Kind.String())
			}
			u.Delete = append(u.Delete, SetAction{Path: path, Value: valOp(*lu.Value)})
		case "ADD":
			if lu.Value == nil {
				return nil, invalid("Only DELETE action is allowed when no attribute value is specified")
			}
			switch {
			case lu.Value.Kind == attr.KindL:
				empty := valOp(attr.Value{Kind: attr.KindL, L: []attr.Value{}})
				cur := &Operand{Kind: OpIfNotExists, Args: []*Operand{pathOp(name), empty}}
				u.Set = append(u.Set, SetAction{Path: path, Value: &Operand{Kind: OpListAppend, Args: []*Operand{cur, valOp(*lu.Value)}}})
			case lu.Value.Kind == attr.KindN || lu.Value.Kind.IsSet():
				u.Add = append(u.Add, SetAction{Path: path, Value: valOp(*lu.Value)})
			default:
				return nil, invalid("ADD action is not supported for the type " + lu.Value.Kind.String())
			}
		default:
			return nil, &Error{"1 validation error detected: Value '" + action + "' at 'attributeUpdates." + name + ".member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"}
		}
	}
	return u, nil
}

// ProjectionFromNames turns legacy AttributesToGet into a projection.
func ProjectionFromNames(names []string) Projection {
	pr := make(Projection, 0, len(names))
	for _, n := range names {
		pr = append(pr, Path{{Name: n}})
	}
	return pr
}
