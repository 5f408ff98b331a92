package expr

import (
	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

// KeyCond is a query's key condition reduced to what the engine needs: the
// partition key value and an optional sort key range.
type KeyCond struct {
	Hash attr.Value
	// RangeOp is "" (no sort key condition), "=", "<", "<=", ">", ">=",
	// "BETWEEN" or "begins_with".
	RangeOp string
	Range   []attr.Value
}

// KeySchema names the partition and sort keys (and their types) of the table
// or index a key condition is checked against.
type KeySchema struct {
	Hash, Range         string
	HashType, RangeType attr.Kind
}

func keyErr(msg string) error { return &Error{msg} }

// ToKeyCond checks a parsed KeyConditionExpression against the key schema of
// the table or index being queried.
func ToKeyCond(c *Cond, ks KeySchema) (*KeyCond, error) {
	var parts []*Cond
	if err := flattenAnd(c, &parts); err != nil {
		return nil, err
	}
	if len(parts) > 2 {
		return nil, keyErr("Conditions can be of length 1 or 2 only")
	}
	kc := &KeyCond{}
	hashSeen := false
	for _, p := range parts {
		name, vals, op, err := keyPart(p)
		if err != nil {
			return nil, err
		}
		switch {
		case name == ks.Hash && !hashSeen:
			if op != "=" {
				return nil, keyErr("Query key condition not supported")
			}
			hashSeen = true
			if vals[0].Kind != ks.HashType {
				return nil, keyErr("One or more parameter values were invalid: Condition parameter type does not match schema type")
			}
			kc.Hash = vals[0]
		case name == ks.Range && ks.Range != "" && kc.RangeOp == "":
			for _, v := range vals {
				if v.Kind != ks.RangeType {
					return nil, keyErr("One or more parameter values were invalid: Condition parameter type does not match schema type")
				}
			}
			if op == "begins_with" && ks.RangeType == attr.KindN {
				return nil, keyErr("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
			}
			kc.RangeOp, kc.Range = op, vals
		default:
			if name == ks.Hash || name == ks.Range {
				return nil, keyErr("KeyConditionExpressions must only contain one condition per key")
			}
			return nil, keyErr("Query condition missed key schema element: " + missing(ks, hashSeen))
		}
	}
	if !hashSeen {
		return nil, keyErr("Query condition missed key schema element: " + ks.Hash)
	}
	return kc, nil
}

func missing(ks KeySchema, hashSeen bool) string {
	if !hashSeen || ks.Range == "" {
		return ks.Hash
	}
	return ks.Range
}

func flattenAnd(c *Cond, out *[]*Cond) error {
	switch c.Kind {
	case CondAnd:
		if err := flattenAnd(c.Sub[0], out); err != nil {
			return err
		}
		return flattenAnd(c.Sub[1], out)
	case CondOr:
		return keyErr("Invalid operator used in KeyConditionExpression: OR")
	case CondNot:
		return keyErr("Invalid operator used in KeyConditionExpression: NOT")
	case CondIn:
		return keyErr("Invalid operator used in KeyConditionExpression: IN")
	}
	*out = append(*out, c)
	return nil
}

// keyPart reads "path op :v", "path BETWEEN :a AND :b" or begins_with(path, :v).
func keyPart(c *Cond) (string, []attr.Value, string, error) {
	switch c.Kind {
	case CondCompare:
		if c.Op == "<>" {
			return "", nil, "", keyErr("Unsupported operator in KeyConditionExpression: <>")
		}
		a, b := c.Args[0], c.Args[1]
		op := c.Op
		if a.Kind == OpValue && b.Kind == OpPath { // ":v = pk" is accepted; flip the comparator
			a, b = b, a
			op = map[string]string{"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
		}
		if a.Kind != OpPath || b.Kind != OpValue || len(a.Path) != 1 {
			return "", nil, "", keyErr("Invalid KeyConditionExpression: Key conditions must compare a key attribute with a value")
		}
		return a.Path[0].Name, []attr.Value{b.Value}, op, nil
	case CondBetween:
		a := c.Args[0]
		if a.Kind != OpPath || len(a.Path) != 1 || c.Args[1].Kind != OpValue || c.Args[2].Kind != OpValue {
			return "", nil, "", keyErr("Invalid KeyConditionExpression: Key conditions must compare a key attribute with a value")
		}
		return a.Path[0].Name, []attr.Value{c.Args[1].Value, c.Args[2].Value}, "BETWEEN", nil
	case CondFunc:
		if c.Op != "begins_with" {
			return "", nil, "", keyErr("Invalid operator used in KeyConditionExpression: " + c.Op)
		}
		a := c.Args[0]
		if a.Kind != OpPath || len(a.Path) != 1 || c.Args[1].Kind != OpValue {
			return "", nil, "", keyErr("Invalid KeyConditionExpression: Key conditions must compare a key attribute with a value")
		}
		return a.Path[0].Name, []attr.Value{c.Args[1].Value}, "begins_with", nil
	}
	return "", nil, "", keyErr("Query key condition not supported")
}
