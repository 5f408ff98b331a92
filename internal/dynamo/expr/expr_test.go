package expr

import (
	"strings"
	"testing"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

func num(s string) attr.Value { return attr.Value{Kind: attr.KindN, S: s} }

func testItem() attr.Item {
	return attr.Item{
		"pk":   attr.Str("user#1"),
		"n":    num("5"),
		"tags": {Kind: attr.KindSS, Set: []string{"a", "b"}},
		"m": {Kind: attr.KindM, M: attr.Item{
			"lst": {Kind: attr.KindL, L: []attr.Value{attr.Str("x"), {Kind: attr.KindM, M: attr.Item{"c": num("7")}}}},
		}},
		"Name": attr.Str("Alice"),
	}
}

func TestConditionEval(t *testing.T) {
	vals := map[string]attr.Value{":five": num("5"), ":s": attr.Str("user"), ":a": attr.Str("a"), ":t": attr.Str("SS"),
		":lo": num("1"), ":hi": num("10"), ":seven": num("7"), ":x": attr.Str("x")}
	names := map[string]string{"#n": "Name"}
	cases := map[string]bool{
		"n = :five":                            true,
		"n <> :five":                           false,
		"n BETWEEN :lo AND :hi":                true,
		"n IN (:lo, :five)":                    true,
		"begins_with(pk, :s)":                  true,
		"contains(tags, :a)":                   true,
		"attribute_type(tags, :t)":             true,
		"attribute_exists(m.lst[1].c)":         true,
		"m.lst[1].c = :seven":                  true,
		"attribute_not_exists(nope)":           true,
		"size(tags) < :five AND NOT (n > :hi)": true,
		"n < :lo OR #n = :x":                   false,
		"contains(m.lst, :x)":                  true,
		"absent = :x":                          false,
		"absent <> :x":                         true,
	}
	for src, want := range cases {
		ctx := NewContext(names, vals)
		c, err := ParseCondition("ConditionExpression", src, ctx)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := c.Eval(testItem()); got != want {
			t.Errorf("%s = %v; want %v", src, got, want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	vals := map[string]attr.Value{":v": num("1"), ":s": attr.Str("x"), ":hi": num("0")}
	cases := map[string]string{
		"":                       "Invalid ConditionExpression: The expression can not be empty;",
		"a = = :v":               `Invalid ConditionExpression: Syntax error; token: "=", near: "= = :v"`,
		"a = ":                   `Syntax error; token: "<EOF>"`,
		"name = :v":              "Attribute name is a reserved keyword; reserved keyword: name",
		"#x = :v":                "An expression attribute name used in the document path is not defined; attribute name: #x",
		"a = :nope":              "An expression attribute value used in expression is not defined; attribute value: :nope",
		"foo(a)":                 "Invalid function name; function: foo",
		"begins_with(a, :v)":     "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
		"attribute_exists(a, b)": "Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2",
		"attribute_exists(:v)":   "Operator or function requires a document path; operator or function: attribute_exists",
		"a BETWEEN :v AND :hi":   "The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
		"a BETWEEN :v AND :s":    "The BETWEEN operator requires same data type for lower and upper bounds",
		"size(a)":                "The function is not allowed to be used this way in an expression; function: size",
		"attribute_type(a, :s)":  "Invalid attribute type name found; type: x",
		"a ! :v":                 "Invalid character encountered",
	}
	for src, want := range cases {
		_, err := ParseCondition("ConditionExpression", src, NewContext(nil, vals))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v; want %q", src, err, want)
		}
	}
}

func TestUnused(t *testing.T) {
	ctx := NewContext(map[string]string{"#a": "a", "#b": "b"}, map[string]attr.Value{":v": num("1"), ":w": num("2")})
	if _, err := ParseCondition("ConditionExpression", "#a = :v", ctx); err != nil {
		t.Fatal(err)
	}
	if err := ctx.Finish(); err == nil || err.Error() != "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}" {
		t.Fatalf("Finish = %v", err)
	}
	ctx = NewContext(nil, map[string]attr.Value{":v": num("1"), ":w": num("2")})
	_, _ = ParseCondition("ConditionExpression", "a = :v", ctx)
	if err := ctx.Finish(); err == nil || err.Error() != "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}" {
		t.Fatalf("Finish = %v", err)
	}
}

func TestUpdateApply(t *testing.T) {
	vals := map[string]attr.Value{
		":one": num("1"), ":l": {Kind: attr.KindL, L: []attr.Value{attr.Str("y")}}, ":c": attr.Str("c"),
		":tags": {Kind: attr.KindSS, Set: []string{"c", "a"}}, ":del": {Kind: attr.KindSS, Set: []string{"b"}}, ":z": num("0"),
	}
	src := "SET n = n + :one, m.lst = list_append(m.lst, :l), cnt = if_not_exists(cnt, :z), m.lst[1].d = :c " +
		"REMOVE #nm ADD tags :tags, ctr :one DELETE prev :del"
	ctx := NewContext(map[string]string{"#nm": "Name"}, vals)
	u, err := ParseUpdate(src, ctx)
	if err == nil {
		t.Fatalf("expected overlap error for m.lst and m.lst[1].d")
	}
	delete(vals, ":c")
	src = "SET n = n + :one, m.lst = list_append(m.lst, :l), cnt = if_not_exists(cnt, :z) REMOVE #nm ADD tags :tags, ctr :one DELETE prev :del"
	ctx = NewContext(map[string]string{"#nm": "Name"}, vals)
	u, err = ParseUpdate(src, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctx.Finish(); err != nil {
		t.Fatal(err)
	}
	old := testItem()
	old["prev"] = attr.Value{Kind: attr.KindSS, Set: []string{"b"}}
	it, err := u.Apply(old)
	if err != nil {
		t.Fatal(err)
	}
	if it["n"].S != "6" || len(it["m"].M["lst"].L) != 3 || it["cnt"].S != "0" || it["ctr"].S != "1" {
		t.Fatalf("bad result: %#v", it)
	}
	if _, ok := it["Name"]; ok {
		t.Fatal("REMOVE did not remove")
	}
	if _, ok := it["prev"]; ok {
		t.Fatal("DELETE of the last member should remove the attribute")
	}
	if len(it["tags"].Set) != 3 {
		t.Fatalf("ADD to set: %v", it["tags"].Set)
	}
	if old["n"].S != "5" || len(old["m"].M["lst"].L) != 2 {
		t.Fatal("Apply modified its input")
	}
	// Errors while applying.
	for src, want := range map[string]error{
		"SET a = nope + :one": ErrMissingOperand,
		"SET a = pk + :one":   ErrOperandType,
		"SET zz.y = :one":     ErrInvalidPath,
	} {
		u, err := ParseUpdate(src, NewContext(nil, vals))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, err := u.Apply(testItem()); err != want {
			t.Errorf("%s: %v; want %v", src, err, want)
		}
	}
}

func TestUpdateErrors(t *testing.T) {
	vals := map[string]attr.Value{":s": attr.Str("x"), ":n": num("1")}
	cases := map[string]string{
		"SET a = :s SET b = :s": `The "SET" section can only be used once in an update expression;`,
		"ADD a :s":              "Incorrect operand type for operator or function; operator: ADD, operand type: STRING",
		"DELETE a :n":           "Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER",
		"SET a = :s + :n":       "operator or function: +, operand type: S",
		"SET a = :n, a = :n":    "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]",
		"SET a = size(b)":       "The function is not allowed to be used this way in an expression; function: size",
		"UPSERT a = :n":         "Syntax error",
	}
	for src, want := range cases {
		_, err := ParseUpdate(src, NewContext(nil, vals))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v; want %q", src, err, want)
		}
	}
}

func TestProjection(t *testing.T) {
	pr, err := ParseProjection("pk, m.lst[1].c, #n", NewContext(map[string]string{"#n": "Name"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	out := pr.Apply(testItem())
	if len(out) != 3 || out["m"].M["lst"].L[0].M["c"].S != "7" {
		t.Fatalf("projection = %s", attr.AppendItem(nil, out))
	}
}

func TestKeyCond(t *testing.T) {
	vals := map[string]attr.Value{":h": attr.Str("h"), ":a": num("1"), ":b": num("2"), ":s": attr.Str("x")}
	ks := KeySchema{Hash: "pk", Range: "sk", HashType: attr.KindS, RangeType: attr.KindN}
	good := map[string]string{"pk = :h": "", "pk = :h AND sk BETWEEN :a AND :b": "BETWEEN", ":a < sk AND pk = :h": ">"}
	for src, op := range good {
		c, err := ParseCondition("KeyConditionExpression", src, NewContext(nil, vals))
		if err != nil {
			t.Fatal(err)
		}
		kc, err := ToKeyCond(c, ks)
		if err != nil || kc.RangeOp != op {
			t.Errorf("%s: %+v %v", src, kc, err)
		}
	}
	bad := map[string]string{
		"sk = :a":              "Query condition missed key schema element: pk",
		"pk = :h OR sk = :a":   "Invalid operator used in KeyConditionExpression: OR",
		"pk < :h":              "Query key condition not supported",
		"pk = :a":              "Condition parameter type does not match schema type",
		"pk = :h AND oth = :a": "Query condition missed key schema element: sk",
	}
	for src, want := range bad {
		c, err := ParseCondition("KeyConditionExpression", src, NewContext(nil, vals))
		if err == nil {
			_, err = ToKeyCond(c, ks)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v; want %q", src, err, want)
		}
	}
}

func TestLegacy(t *testing.T) {
	f := false
	c, err := FromLegacy(map[string]LegacyCondition{
		"n":    {ComparisonOperator: "GT", AttributeValueList: []attr.Value{num("1")}},
		"gone": {Exists: &f},
	}, "")
	if err != nil || !c.Eval(testItem()) {
		t.Fatalf("legacy condition: %v", err)
	}
	if _, err := FromLegacy(map[string]LegacyCondition{"n": {ComparisonOperator: "BETWEEN", AttributeValueList: []attr.Value{num("1")}}}, ""); err == nil ||
		!strings.Contains(err.Error(), "Invalid number of argument(s) for the BETWEEN ComparisonOperator") {
		t.Fatalf("legacy arg count: %v", err)
	}
	v := num("2")
	u, err := UpdateFromLegacy(map[string]LegacyUpdate{"n": {Action: "ADD", Value: &v}, "Name": {Action: "DELETE"}})
	if err != nil {
		t.Fatal(err)
	}
	it, err := u.Apply(testItem())
	if err != nil || it["n"].S != "7" {
		t.Fatalf("legacy update: %v %v", it["n"], err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a = :v", "attribute_exists(#n) AND NOT (b.c[1] BETWEEN :v AND :w)", "a IN (:v, :w) OR size(b) > :v",
		"SET a = a + :v, b = list_append(if_not_exists(b, :w), :v) REMOVE c[0] ADD d :v DELETE e :w",
		"a, b.c, d[3].e", "((a = :v))", "begins_with(a, :w)", "#n.#n[0] <> :v",
	} {
		f.Add(s)
	}
	vals := map[string]attr.Value{":v": num("1"), ":w": {Kind: attr.KindSS, Set: []string{"x"}}}
	names := map[string]string{"#n": "n"}
	f.Fuzz(func(t *testing.T, s string) {
		it := testItem()
		if c, err := ParseCondition("ConditionExpression", s, NewContext(names, vals)); err == nil {
			c.Eval(it)
			_, _ = ToKeyCond(c, KeySchema{Hash: "pk", HashType: attr.KindS})
		}
		if u, err := ParseUpdate(s, NewContext(names, vals)); err == nil {
			_, _ = u.Apply(it)
		}
		if p, err := ParseProjection(s, NewContext(names, vals)); err == nil {
			p.Apply(it)
		}
	})
}
