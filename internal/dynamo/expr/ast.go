package expr

import (
	"sort"
	"strconv"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

// PathElem is one step of a document path: an attribute/map key or a list index.
type PathElem struct {
	Name    string
	Index   int
	IsIndex bool
}

// Path is a document path such as a.b[2].c, with names already resolved.
type Path []PathElem

// String renders the path as DynamoDB does in messages: [a, b, [2], c].
func (p Path) String() string {
	parts := make([]string, len(p))
	for i, e := range p {
		if e.IsIndex {
			parts[i] = "[" + strconv.Itoa(e.Index) + "]"
		} else {
			parts[i] = e.Name
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Top returns the top-level attribute name of the path.
func (p Path) Top() string { return p[0].Name }

// OperandKind tells what an operand computes.
type OperandKind uint8

// Operand kinds.
const (
	OpPath OperandKind = iota
	OpValue
	OpSize
	OpIfNotExists
	OpListAppend
	OpPlus
	OpMinus
)

// Operand is a value-producing node: a path, a literal, or a function of operands.
type Operand struct {
	Kind  OperandKind
	Path  Path
	Value attr.Value
	Args  []*Operand
}

// CondKind tells what a condition node tests.
type CondKind uint8

// Condition kinds.
const (
	CondAnd CondKind = iota
	CondOr
	CondNot
	CondCompare // Op is one of = <> < <= > >=
	CondBetween
	CondIn
	CondFunc // Op is attribute_exists, attribute_not_exists, attribute_type, begins_with, contains
)

// Cond is a boolean node of a condition, filter or key condition expression.
type Cond struct {
	Kind CondKind
	Op   string
	Args []*Operand
	Sub  []*Cond
}

// Update is a parsed update expression.
type Update struct {
	Set    []SetAction
	Remove []Path
	Add    []SetAction // Value.Kind == OpValue
	Delete []SetAction // Value.Kind == OpValue
}

// SetAction assigns Value to Path (also used for ADD and DELETE).
type SetAction struct {
	Path  Path
	Value *Operand
}

// Paths returns every path the update writes, in order of appearance.
func (u *Update) Paths() []Path {
	var ps []Path
	for _, a := range u.Set {
		ps = append(ps, a.Path)
	}
	ps = append(ps, u.Remove...)
	for _, a := range u.Add {
		ps = append(ps, a.Path)
	}
	for _, a := range u.Delete {
		ps = append(ps, a.Path)
	}
	return ps
}

// Projection is a parsed projection expression.
type Projection []Path

// Context carries a request's ExpressionAttributeNames and
// ExpressionAttributeValues across the expressions that share them, and
// records which ones were used.
type Context struct {
	Names      map[string]string
	Values     map[string]attr.Value
	usedNames  map[string]bool
	usedValues map[string]bool
}

// NewContext returns a context over the request's placeholder maps.
func NewContext(names map[string]string, values map[string]attr.Value) *Context {
	return &Context{Names: names, Values: values}
}

// Finish reports placeholders that no expression used, as DynamoDB does.
func (c *Context) Finish() error {
	if c == nil {
		return nil
	}
	if unused := unusedKeys(c.Names, c.usedNames); unused != "" {
		return &Error{"Value provided in ExpressionAttributeNames unused in expressions: keys: {" + unused + "}"}
	}
	if unused := unusedKeys(c.Values, c.usedValues); unused != "" {
		return &Error{"Value provided in ExpressionAttributeValues unused in expressions: keys: {" + unused + "}"}
	}
	return nil
}

func unusedKeys[V any](m map[string]V, used map[string]bool) string {
	var out []string
	for k := range m {
		if !used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
