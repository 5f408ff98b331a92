package expr

import (
	"strings"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

// Resolve returns the value at path in the item.
func Resolve(it attr.Item, p Path) (attr.Value, bool) {
	v, ok := it[p[0].Name]
	if !ok {
		return v, false
	}
	for _, e := range p[1:] {
		if e.IsIndex {
			if v.Kind != attr.KindL || e.Index >= len(v.L) {
				return attr.Value{}, false
			}
			v = v.L[e.Index]
		} else {
			if v.Kind != attr.KindM {
				return attr.Value{}, false
			}
			if v, ok = v.M[e.Name]; !ok {
				return v, false
			}
		}
	}
	return v, true
}

// value computes a condition operand; ok is false when it has no value.
func (o *Operand) eval(it attr.Item) (attr.Value, bool) {
	switch o.Kind {
	case OpValue:
		return o.Value, true
	case OpPath:
		return Resolve(it, o.Path)
	case OpSize:
		v, ok := o.Args[0].eval(it)
		if !ok {
			return v, false
		}
		n := 0
		switch v.Kind {
		case attr.KindS, attr.KindB: // bytes, as DynamoDB measures strings
			n = len(v.S)
		case attr.KindSS, attr.KindNS, attr.KindBS:
			n = len(v.Set)
		case attr.KindL:
			n = len(v.L)
		case attr.KindM:
			n = len(v.M)
		default:
			return attr.Value{}, false
		}
		return attr.Value{Kind: attr.KindN, S: itoa(n)}, true
	}
	return attr.Value{}, false
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Eval reports whether the item satisfies the condition. A nil condition is true.
func (c *Cond) Eval(it attr.Item) bool {
	if c == nil {
		return true
	}
	switch c.Kind {
	case CondAnd:
		return c.Sub[0].Eval(it) && c.Sub[1].Eval(it)
	case CondOr:
		return c.Sub[0].Eval(it) || c.Sub[1].Eval(it)
	case CondNot:
		return !c.Sub[0].Eval(it)
	case CondCompare:
		a, ok1 := c.Args[0].eval(it)
		b, ok2 := c.Args[1].eval(it)
		if !ok1 || !ok2 {
			return c.Op == "<>" && ok1 != ok2
		}
		return compare(c.Op, a, b)
	case CondBetween:
		v, ok := c.Args[0].eval(it)
		lo, ok1 := c.Args[1].eval(it)
		hi, ok2 := c.Args[2].eval(it)
		if !ok || !ok1 || !ok2 {
			return false
		}
		return compare(">=", v, lo) && compare("<=", v, hi)
	case CondIn:
		v, ok := c.Args[0].eval(it)
		if !ok {
			return false
		}
		for _, a := range c.Args[1:] {
			if w, ok := a.eval(it); ok && attr.Equal(v, w) {
				return true
			}
		}
		return false
	case CondFunc:
		return c.evalFunc(it)
	}
	return false
}

func compare(op string, a, b attr.Value) bool {
	switch op {
	case "=":
		return attr.Equal(a, b)
	case "<>":
		return !attr.Equal(a, b)
	}
	n, ok := attr.Compare(a, b)
	if !ok {
		return false
	}
	switch op {
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	}
	return false
}

func (c *Cond) evalFunc(it attr.Item) bool {
	switch c.Op {
	case "attribute_exists":
		_, ok := c.Args[0].eval(it)
		return ok
	case "attribute_not_exists":
		_, ok := c.Args[0].eval(it)
		return !ok
	case "attribute_type":
		v, ok := c.Args[0].eval(it)
		t, ok2 := c.Args[1].eval(it)
		return ok && ok2 && v.Kind.String() == t.S
	case "begins_with":
		v, ok := c.Args[0].eval(it)
		pre, ok2 := c.Args[1].eval(it)
		if !ok || !ok2 || v.Kind != pre.Kind || (v.Kind != attr.KindS && v.Kind != attr.KindB) {
			return false
		}
		return strings.HasPrefix(v.S, pre.S)
	case "contains":
		v, ok := c.Args[0].eval(it)
		x, ok2 := c.Args[1].eval(it)
		if !ok || !ok2 {
			return false
		}
		switch v.Kind {
		case attr.KindS:
			return x.Kind == attr.KindS && strings.Contains(v.S, x.S)
		case attr.KindB:
			return x.Kind == attr.KindB && strings.Contains(v.S, x.S)
		case attr.KindSS:
			return x.Kind == attr.KindS && attr.SetContains(v.Kind, v.Set, x.S)
		case attr.KindNS:
			return x.Kind == attr.KindN && attr.SetContains(v.Kind, v.Set, x.S)
		case attr.KindBS:
			return x.Kind == attr.KindB && attr.SetContains(v.Kind, v.Set, x.S)
		case attr.KindL:
			for _, e := range v.L {
				if attr.Equal(e, x) {
					return true
				}
			}
		}
		return false
	}
	return false
}

// Names returns the top-level attribute names the condition reads.
func (c *Cond) Names(out map[string]bool) {
	if c == nil {
		return
	}
	for _, s := range c.Sub {
		s.Names(out)
	}
	for _, a := range c.Args {
		a.names(out)
	}
}

func (o *Operand) names(out map[string]bool) {
	if o.Kind == OpPath {
		out[o.Path.Top()] = true
	}
	for _, a := range o.Args {
		a.names(out)
	}
}

// ---- update ----

// Update evaluation errors, worded as DynamoDB words them.
var (
	ErrMissingOperand = &Error{"The provided expression refers to an attribute that does not exist in the item"}
	ErrOperandType    = &Error{"An operand in the update expression has an incorrect data type"}
	ErrInvalidPath    = &Error{"The document path provided in the update expression is invalid for update"}
)

func (o *Operand) evalUpdate(it attr.Item) (attr.Value, error) {
	switch o.Kind {
	case OpValue:
		return o.Value, nil
	case OpPath:
		v, ok := Resolve(it, o.Path)
		if !ok {
			return v, ErrMissingOperand
		}
		return v, nil
	case OpIfNotExists:
		if v, ok := Resolve(it, o.Args[0].Path); ok {
			return v, nil
		}
		return o.Args[1].evalUpdate(it)
	case OpListAppend:
		a, err := o.Args[0].evalUpdate(it)
		if err != nil {
			return a, err
		}
		b, err := o.Args[1].evalUpdate(it)
		if err != nil {
			return b, err
		}
		if a.Kind != attr.KindL || b.Kind != attr.KindL {
			return a, ErrOperandType
		}
		l := make([]attr.Value, 0, len(a.L)+len(b.L))
		l = append(append(l, a.L...), b.L...)
		return attr.Value{Kind: attr.KindL, L: l}, nil
	case OpPlus, OpMinus:
		a, err := o.Args[0].evalUpdate(it)
		if err != nil {
			return a, err
		}
		b, err := o.Args[1].evalUpdate(it)
		if err != nil {
			return b, err
		}
		if a.Kind != attr.KindN || b.Kind != attr.KindN {
			return a, ErrOperandType
		}
		s, err := attr.AddNumbers(a.S, b.S, o.Kind == OpMinus)
		if err != nil {
			return a, &Error{err.Error()}
		}
		return attr.Value{Kind: attr.KindN, S: s}, nil
	}
	return attr.Value{}, ErrOperandType
}

// Apply returns a new item with the update applied to old (which is not
// modified). All right-hand sides are evaluated on old, as DynamoDB does.
func (u *Update) Apply(old attr.Item) (attr.Item, error) {
	vals := make([]attr.Value, len(u.Set))
	for i, a := range u.Set {
		v, err := a.Value.evalUpdate(old)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	it := old.Clone()
	if it == nil {
		it = attr.Item{}
	}
	for i, a := range u.Set {
		if err := setPath(it, a.Path, vals[i]); err != nil {
			return nil, err
		}
	}
	// Remove list elements from the highest index down so indexes stay valid.
	removes := append([]Path(nil), u.Remove...)
	for i := 1; i < len(removes); i++ {
		for j := i; j > 0 && lastIndex(removes[j]) > lastIndex(removes[j-1]); j-- {
			removes[j], removes[j-1] = removes[j-1], removes[j]
		}
	}
	for _, p := range removes {
		if err := removePath(it, p); err != nil {
			return nil, err
		}
	}
	for _, a := range u.Add {
		cur, exists := Resolve(it, a.Path)
		add := a.Value.Value
		var nv attr.Value
		switch {
		case !exists:
			nv = add.Clone()
		case add.Kind == attr.KindN && cur.Kind == attr.KindN:
			s, err := attr.AddNumbers(cur.S, add.S, false)
			if err != nil {
				return nil, &Error{err.Error()}
			}
			nv = attr.Value{Kind: attr.KindN, S: s}
		case add.Kind.IsSet() && cur.Kind == add.Kind:
			nv = attr.Value{Kind: cur.Kind, Set: append([]string(nil), cur.Set...)}
			for _, m := range add.Set {
				if !attr.SetContains(cur.Kind, nv.Set, m) {
					nv.Set = append(nv.Set, m)
				}
			}
		default:
			return nil, ErrOperandType
		}
		if err := setPath(it, a.Path, nv); err != nil {
			return nil, err
		}
	}
	for _, a := range u.Delete {
		cur, exists := Resolve(it, a.Path)
		if !exists {
			continue
		}
		del := a.Value.Value
		if cur.Kind != del.Kind {
			return nil, ErrOperandType
		}
		var keep []string
		for _, m := range cur.Set {
			if !attr.SetContains(cur.Kind, del.Set, m) {
				keep = append(keep, m)
			}
		}
		if len(keep) == 0 {
			if err := removePath(it, a.Path); err != nil {
				return nil, err
			}
			continue
		}
		if err := setPath(it, a.Path, attr.Value{Kind: cur.Kind, Set: keep}); err != nil {
			return nil, err
		}
	}
	return it, nil
}

func lastIndex(p Path) int {
	if e := p[len(p)-1]; e.IsIndex {
		return e.Index
	}
	return -1
}

// setPath stores v at p inside it, whose containers along p were cloned by Apply.
func setPath(it attr.Item, p Path, v attr.Value) error {
	if len(p) == 1 {
		it[p[0].Name] = v
		return nil
	}
	parent, ok := it[p[0].Name]
	if !ok {
		return ErrInvalidPath
	}
	nv, err := setIn(parent, p[1:], v)
	if err != nil {
		return err
	}
	it[p[0].Name] = nv
	return nil
}

func setIn(cur attr.Value, p Path, v attr.Value) (attr.Value, error) {
	e := p[0]
	if e.IsIndex {
		if cur.Kind != attr.KindL {
			return cur, ErrInvalidPath
		}
		if len(p) == 1 {
			if e.Index >= len(cur.L) {
				cur.L = append(cur.L, v)
			} else {
				cur.L[e.Index] = v
			}
			return cur, nil
		}
		if e.Index >= len(cur.L) {
			return cur, ErrInvalidPath
		}
		nv, err := setIn(cur.L[e.Index], p[1:], v)
		if err != nil {
			return cur, err
		}
		cur.L[e.Index] = nv
		return cur, nil
	}
	if cur.Kind != attr.KindM {
		return cur, ErrInvalidPath
	}
	if cur.M == nil {
		cur.M = attr.Item{}
	}
	if len(p) == 1 {
		cur.M[e.Name] = v
		return cur, nil
	}
	child, ok := cur.M[e.Name]
	if !ok {
		return cur, ErrInvalidPath
	}
	nv, err := setIn(child, p[1:], v)
	if err != nil {
		return cur, err
	}
	cur.M[e.Name] = nv
	return cur, nil
}

func removePath(it attr.Item, p Path) error {
	if len(p) == 1 {
		delete(it, p[0].Name)
		return nil
	}
	parent, ok := it[p[0].Name]
	if !ok {
		return nil
	}
	nv, err := removeIn(parent, p[1:])
	if err != nil {
		return err
	}
	it[p[0].Name] = nv
	return nil
}

func removeIn(cur attr.Value, p Path) (attr.Value, error) {
	e := p[0]
	if e.IsIndex {
		if cur.Kind != attr.KindL {
			return cur, ErrInvalidPath
		}
		if e.Index >= len(cur.L) {
			return cur, nil
		}
		if len(p) == 1 {
			cur.L = append(cur.L[:e.Index:e.Index], cur.L[e.Index+1:]...)
			return cur, nil
		}
		nv, err := removeIn(cur.L[e.Index], p[1:])
		cur.L[e.Index] = nv
		return cur, err
	}
	if cur.Kind != attr.KindM {
		return cur, ErrInvalidPath
	}
	if len(p) == 1 {
		delete(cur.M, e.Name)
		return cur, nil
	}
	child, ok := cur.M[e.Name]
	if !ok {
		return cur, nil
	}
	nv, err := removeIn(child, p[1:])
	cur.M[e.Name] = nv
	return cur, err
}

// ---- projection ----

// Apply returns the parts of the item the projection names. List elements
// picked by index are returned in index order, compacted, as DynamoDB does.
func (pr Projection) Apply(it attr.Item) attr.Item {
	if it == nil {
		return nil
	}
	out := attr.Item{}
	for _, p := range pr {
		v, ok := Resolve(it, p)
		if !ok {
			continue
		}
		if len(p) == 1 {
			out[p[0].Name] = v
			continue
		}
		top, exists := out[p[0].Name]
		src := it[p[0].Name]
		out[p[0].Name] = project(top, exists, src, p[1:], v)
	}
	return out
}

// project inserts v (found at path p under src) into dst, creating the
// containers src has along the way.
func project(dst attr.Value, exists bool, src attr.Value, p Path, v attr.Value) attr.Value {
	if len(p) == 0 {
		return v
	}
	e := p[0]
	if e.IsIndex {
		if !exists {
			dst = attr.Value{Kind: attr.KindL}
		}
		child := src.L[e.Index]
		// Projected list elements keep their relative order; one slot per index.
		dst.L = append(dst.L, project(attr.Value{}, false, child, p[1:], v))
		return dst
	}
	if !exists {
		dst = attr.Value{Kind: attr.KindM, M: attr.Item{}}
	}
	cur, ok := dst.M[e.Name]
	dst.M[e.Name] = project(cur, ok, src.M[e.Name], p[1:], v)
	return dst
}
