package expr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

type parser struct {
	kind string // "ConditionExpression", "UpdateExpression", ...
	src  string
	toks []token
	pos  int
	ctx  *Context
	err  error // first semantic error; syntax errors win over it
}

func newParser(kind, src string, ctx *Context) (*parser, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &Error{"Invalid " + kind + ": The expression can not be empty;"}
	}
	toks, err := lex(kind, src)
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = &Context{}
	}
	return &parser{kind: kind, src: src, toks: toks, ctx: ctx}, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) peekAt(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

// syntax builds DynamoDB's syntax error for the token at the cursor.
func (p *parser) syntax() error {
	t := p.peek()
	from := t.start
	if p.pos > 0 {
		from = p.toks[p.pos-1].start
	}
	to := t.end
	if p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind != tEOF {
		to = p.toks[p.pos+1].end
	}
	return &Error{fmt.Sprintf("Invalid %s: Syntax error; token: %q, near: %q", p.kind, t.text, p.src[from:to])}
}

func (p *parser) fail(format string, a ...any) {
	if p.err == nil {
		p.err = &Error{"Invalid " + p.kind + ": " + fmt.Sprintf(format, a...)}
	}
}

func (p *parser) expect(k tokKind) error {
	if p.peek().kind != k {
		return p.syntax()
	}
	p.next()
	return nil
}

func (p *parser) done() error {
	if p.peek().kind != tEOF {
		return p.syntax()
	}
	return p.err
}

// ---- paths and operands ----

func (p *parser) pathName(t token) string {
	switch t.kind {
	case tName:
		v, ok := p.ctx.Names[t.text]
		if !ok {
			p.fail("An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
			return t.text
		}
		if p.ctx.usedNames == nil {
			p.ctx.usedNames = map[string]bool{}
		}
		p.ctx.usedNames[t.text] = true
		return v
	default:
		if IsReserved(t.text) {
			p.fail("Attribute name is a reserved keyword; reserved keyword: %s", t.text)
		}
		return t.text
	}
}

func (p *parser) path() (Path, error) {
	t := p.peek()
	if t.kind != tIdent && t.kind != tName {
		return nil, p.syntax()
	}
	p.next()
	path := Path{{Name: p.pathName(t)}}
	for {
		switch p.peek().kind {
		case tDot:
			p.next()
			t := p.peek()
			if t.kind != tIdent && t.kind != tName {
				return nil, p.syntax()
			}
			p.next()
			path = append(path, PathElem{Name: p.pathName(t)})
		case tLBracket:
			p.next()
			t := p.peek()
			if t.kind != tNumber {
				return nil, p.syntax()
			}
			p.next()
			n, err := strconv.Atoi(t.text)
			if err != nil {
				return nil, p.syntax()
			}
			if err := p.expect(tRBracket); err != nil {
				return nil, err
			}
			path = append(path, PathElem{Index: n, IsIndex: true})
		default:
			return path, nil
		}
	}
}

func (p *parser) value(t token) attr.Value {
	v, ok := p.ctx.Values[t.text]
	if !ok {
		p.fail("An expression attribute value used in expression is not defined; attribute value: %s", t.text)
		return attr.Value{Kind: attr.KindNULL}
	}
	if p.ctx.usedValues == nil {
		p.ctx.usedValues = map[string]bool{}
	}
	p.ctx.usedValues[t.text] = true
	return v
}

var operandFuncs = map[string]struct {
	kind  OperandKind
	nargs int
}{
	"size":          {OpSize, 1},
	"if_not_exists": {OpIfNotExists, 2},
	"list_append":   {OpListAppend, 2},
}

var condFuncs = map[string]int{
	"attribute_exists":     1,
	"attribute_not_exists": 1,
	"attribute_type":       2,
	"begins_with":          2,
	"contains":             2,
}

// operand parses a path, a :value, or a function call. update says whether
// if_not_exists/list_append are allowed (update SET) or only size (conditions).
func (p *parser) operand(update bool) (*Operand, error) {
	t := p.peek()
	switch t.kind {
	case tValue:
		p.next()
		return &Operand{Kind: OpValue, Value: p.value(t)}, nil
	case tIdent:
		if p.peekAt(1).kind == tLParen {
			return p.operandFunc(update)
		}
		fallthrough
	case tName:
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		return &Operand{Kind: OpPath, Path: path}, nil
	case tLParen:
		p.next()
		o, err := p.operand(update)
		if err != nil {
			return nil, err
		}
		return o, p.expect(tRParen)
	}
	return nil, p.syntax()
}

func (p *parser) args() ([]*Operand, error) {
	if err := p.expect(tLParen); err != nil {
		return nil, err
	}
	var args []*Operand
	for {
		a, err := p.operand(true)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if p.peek().kind == tComma {
			p.next()
			continue
		}
		return args, p.expect(tRParen)
	}
}

func (p *parser) operandFunc(update bool) (*Operand, error) {
	name := p.next().text
	args, err := p.args()
	if err != nil {
		return nil, err
	}
	f, ok := operandFuncs[name]
	if !ok {
		if _, isCond := condFuncs[name]; isCond {
			p.fail("The function is not allowed to be used this way in an expression; function: %s", name)
		} else {
			p.fail("Invalid function name; function: %s", name)
		}
		return &Operand{Kind: OpValue}, nil
	}
	if (f.kind == OpSize) == update {
		p.fail("The function is not allowed to be used this way in an expression; function: %s", name)
	}
	if len(args) != f.nargs {
		p.fail("Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d", name, len(args))
		return &Operand{Kind: OpValue}, nil
	}
	o := &Operand{Kind: f.kind, Args: args}
	switch f.kind {
	case OpSize:
		if args[0].Kind == OpSize {
			p.fail("Incorrect operand type for operator or function; operator or function: size, operand type: N")
		}
		if args[0].Kind == OpValue {
			if k := args[0].Value.Kind; k == attr.KindN || k == attr.KindBOOL || k == attr.KindNULL {
				p.fail("Incorrect operand type for operator or function; operator or function: size, operand type: %s", k)
			}
		}
	case OpIfNotExists:
		if args[0].Kind != OpPath {
			p.fail("Operator or function requires a document path; operator or function: if_not_exists")
		}
	case OpListAppend:
		for _, a := range args {
			if a.Kind == OpValue && a.Value.Kind != attr.KindL {
				p.fail("Incorrect operand type for operator or function; operator or function: list_append, operand type: %s", a.Value.Kind)
			}
		}
	}
	return o, nil
}

// ---- conditions ----

// ParseCondition parses a ConditionExpression, FilterExpression or
// KeyConditionExpression (kind names which, for messages).
func ParseCondition(kind, src string, ctx *Context) (*Cond, error) {
	p, err := newParser(kind, src, ctx)
	if err != nil {
		return nil, err
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	return c, nil
}

func (p *parser) or() (*Cond, error) {
	c, err := p.and()
	if err != nil {
		return nil, err
	}
	for isKeyword(p.peek(), "OR") {
		p.next()
		d, err := p.and()
		if err != nil {
			return nil, err
		}
		c = &Cond{Kind: CondOr, Sub: []*Cond{c, d}}
	}
	return c, nil
}

func (p *parser) and() (*Cond, error) {
	c, err := p.not()
	if err != nil {
		return nil, err
	}
	for isKeyword(p.peek(), "AND") {
		p.next()
		d, err := p.not()
		if err != nil {
			return nil, err
		}
		c = &Cond{Kind: CondAnd, Sub: []*Cond{c, d}}
	}
	return c, nil
}

func (p *parser) not() (*Cond, error) {
	if isKeyword(p.peek(), "NOT") {
		p.next()
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return &Cond{Kind: CondNot, Sub: []*Cond{c}}, nil
	}
	return p.primary()
}

func isComparator(k tokKind) bool { return k >= tEq && k <= tGe }

// parenIsCondition decides whether "(" at the cursor opens a condition (as
// opposed to a parenthesised operand followed by a comparator).
func (p *parser) parenIsCondition() bool {
	depth := 0
	for i := p.pos; i < len(p.toks); i++ {
		switch k := p.toks[i].kind; k {
		case tLParen:
			depth++
		case tRParen:
			depth--
			if depth == 0 {
				n := p.toks[i+1]
				return !(isComparator(n.kind) || isKeyword(n, "BETWEEN") || isKeyword(n, "IN"))
			}
		case tEOF:
			return true
		}
	}
	return true
}

func (p *parser) primary() (*Cond, error) {
	t := p.peek()
	if t.kind == tLParen && p.parenIsCondition() {
		p.next()
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(tRParen)
	}
	if t.kind == tIdent && p.peekAt(1).kind == tLParen {
		if n, ok := condFuncs[t.text]; ok {
			return p.condFunc(n)
		}
		if _, ok := operandFuncs[t.text]; !ok {
			p.next()
			if _, err := p.args(); err != nil {
				return nil, err
			}
			p.fail("Invalid function name; function: %s", t.text)
			return &Cond{Kind: CondFunc, Op: "attribute_exists", Args: []*Operand{{Kind: OpPath, Path: Path{{Name: t.text}}}}}, nil
		}
	}
	if t.kind == tEOF {
		return nil, p.syntax()
	}
	left, err := p.operand(false)
	if err != nil {
		return nil, err
	}
	n := p.peek()
	switch {
	case isComparator(n.kind):
		p.next()
		right, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		return &Cond{Kind: CondCompare, Op: n.text, Args: []*Operand{left, right}}, nil
	case isKeyword(n, "BETWEEN"):
		p.next()
		lo, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		if !isKeyword(p.peek(), "AND") {
			return nil, p.syntax()
		}
		p.next()
		hi, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		if lo.Kind == OpValue && hi.Kind == OpValue && p.err == nil {
			if lo.Value.Kind != hi.Value.Kind {
				p.fail("The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {%s:%s}, upper bound operand: AttributeValue: {%s:%s}",
					lo.Value.Kind, lo.Value.S, hi.Value.Kind, hi.Value.S)
			} else if c, ok := attr.Compare(lo.Value, hi.Value); ok && c > 0 {
				p.fail("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {%s:%s}, upper bound operand: AttributeValue: {%s:%s}",
					lo.Value.Kind, lo.Value.S, hi.Value.Kind, hi.Value.S)
			}
		}
		return &Cond{Kind: CondBetween, Op: "BETWEEN", Args: []*Operand{left, lo, hi}}, nil
	case isKeyword(n, "IN"):
		p.next()
		if err := p.expect(tLParen); err != nil {
			return nil, err
		}
		args := []*Operand{left}
		for {
			a, err := p.operand(false)
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.peek().kind == tComma {
				p.next()
				continue
			}
			if err := p.expect(tRParen); err != nil {
				return nil, err
			}
			break
		}
		if len(args) > 101 {
			p.fail("The IN operator is provided with too many operands; number of operands: %d", len(args)-1)
		}
		return &Cond{Kind: CondIn, Op: "IN", Args: args}, nil
	}
	if left.Kind == OpSize {
		return nil, &Error{"Invalid " + p.kind + ": The function is not allowed to be used this way in an expression; function: size"}
	}
	return nil, p.syntax()
}

func (p *parser) condFunc(nargs int) (*Cond, error) {
	name := p.next().text
	if err := p.expect(tLParen); err != nil {
		return nil, err
	}
	var args []*Operand
	for {
		a, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if p.peek().kind == tComma {
			p.next()
			continue
		}
		if err := p.expect(tRParen); err != nil {
			return nil, err
		}
		break
	}
	c := &Cond{Kind: CondFunc, Op: name, Args: args}
	if isComparator(p.peek().kind) {
		p.fail("The function is not allowed to be used this way in an expression; function: %s", name)
	}
	if len(args) != nargs {
		p.fail("Incorrect number of operands for operator or function; operator or function: %s, number of operands: %d", name, len(args))
		return c, nil
	}
	switch name {
	case "attribute_exists", "attribute_not_exists":
		if args[0].Kind != OpPath {
			p.fail("Operator or function requires a document path; operator or function: %s", name)
		}
	case "attribute_type":
		if args[0].Kind != OpPath {
			p.fail("Operator or function requires a document path; operator or function: %s", name)
		}
		v := args[1]
		if v.Kind != OpValue || v.Value.Kind != attr.KindS {
			t := "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
			if v.Kind == OpValue {
				t = v.Value.Kind.String()
			}
			p.fail("Incorrect operand type for operator or function; operator or function: attribute_type, operand type: %s", t)
		} else if attr.KindFromName(v.Value.S) == attr.KindNone {
			p.fail("Invalid attribute type name found; type: %s, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}", v.Value.S)
		}
	case "begins_with":
		for _, a := range args {
			if a.Kind == OpValue && a.Value.Kind != attr.KindS && a.Value.Kind != attr.KindB {
				p.fail("Incorrect operand type for operator or function; operator or function: begins_with, operand type: %s", a.Value.Kind)
			}
		}
	case "contains":
		if args[0].Kind == OpValue {
			p.fail("Operator or function requires a document path; operator or function: %s", name)
		}
	}
	return c, nil
}

// ---- update ----

// ParseUpdate parses an UpdateExpression.
func ParseUpdate(src string, ctx *Context) (*Update, error) {
	p, err := newParser("UpdateExpression", src, ctx)
	if err != nil {
		return nil, err
	}
	u := &Update{}
	seen := map[string]bool{}
	for p.peek().kind != tEOF {
		t := p.peek()
		section := strings.ToUpper(t.text)
		if t.kind != tIdent || (section != "SET" && section != "REMOVE" && section != "ADD" && section != "DELETE") {
			return nil, p.syntax()
		}
		p.next()
		if seen[section] {
			p.fail(`The "%s" section can only be used once in an update expression;`, section)
		}
		seen[section] = true
		for {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			switch section {
			case "SET":
				if err := p.expect(tEq); err != nil {
					return nil, err
				}
				v, err := p.setValue()
				if err != nil {
					return nil, err
				}
				u.Set = append(u.Set, SetAction{Path: path, Value: v})
			case "REMOVE":
				u.Remove = append(u.Remove, path)
			case "ADD", "DELETE":
				vt := p.peek()
				if vt.kind != tValue {
					return nil, p.syntax()
				}
				p.next()
				v := p.value(vt)
				if !(v.Kind.IsSet() || (section == "ADD" && v.Kind == attr.KindN)) && p.err == nil {
					p.fail("Incorrect operand type for operator or function; operator: %s, operand type: %s", section, typeWord(v.Kind))
				}
				a := SetAction{Path: path, Value: &Operand{Kind: OpValue, Value: v}}
				if section == "ADD" {
					u.Add = append(u.Add, a)
				} else {
					u.Delete = append(u.Delete, a)
				}
			}
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	if err := checkOverlaps(u.Paths()); err != nil {
		return nil, &Error{"Invalid UpdateExpression: " + err.Error()}
	}
	return u, nil
}

func typeWord(k attr.Kind) string {
	switch k {
	case attr.KindS:
		return "STRING"
	case attr.KindN:
		return "NUMBER"
	case attr.KindB:
		return "BINARY"
	case attr.KindNULL:
		return "NULL"
	case attr.KindBOOL:
		return "BOOLEAN"
	case attr.KindL:
		return "LIST"
	case attr.KindM:
		return "MAP"
	}
	return k.String()
}

func (p *parser) setValue() (*Operand, error) {
	a, err := p.operand(true)
	if err != nil {
		return nil, err
	}
	k := p.peek().kind
	if k != tPlus && k != tMinus {
		return a, nil
	}
	p.next()
	b, err := p.operand(true)
	if err != nil {
		return nil, err
	}
	op, kind := "+", OpPlus
	if k == tMinus {
		op, kind = "-", OpMinus
	}
	for _, x := range []*Operand{a, b} {
		if x.Kind == OpValue && x.Value.Kind != attr.KindN {
			p.fail("Incorrect operand type for operator or function; operator or function: %s, operand type: %s", op, x.Value.Kind)
		}
	}
	return &Operand{Kind: kind, Args: []*Operand{a, b}}, nil
}

type pathErr string

func (e pathErr) Error() string { return string(e) }

// checkOverlaps reports two paths where one is a prefix of (or equal to) the other.
func checkOverlaps(paths []Path) error {
	for i := 0; i < len(paths); i++ {
		for j := 0; j < i; j++ {
			a, b := paths[j], paths[i]
			n := min(len(a), len(b))
			same := true
			for k := 0; k < n; k++ {
				if a[k].IsIndex != b[k].IsIndex {
					return pathErr(fmt.Sprintf("Two document paths conflict with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", a, b))
				}
				if a[k] != b[k] {
					same = false
					break
				}
			}
			if same {
				return pathErr(fmt.Sprintf("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: %s, path two: %s", a, b))
			}
		}
	}
	return nil
}

// ---- projection ----

// ParseProjection parses a ProjectionExpression.
func ParseProjection(src string, ctx *Context) (Projection, error) {
	p, err := newParser("ProjectionExpression", src, ctx)
	if err != nil {
		return nil, err
	}
	var out Projection
	for {
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		out = append(out, path)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	if err := checkOverlaps(out); err != nil {
		return nil, &Error{"Invalid ProjectionExpression: " + err.Error()}
	}
	return out, nil
}
