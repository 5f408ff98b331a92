// Package attr holds DynamoDB attribute values: their typed representation, the
// DynamoDB JSON wire form, 38-digit decimal numbers, item size rules and the
// order-preserving key encoding the engine stores keys with.
package attr

import "sort"

// Kind is the data type of an attribute value.
type Kind uint8

// Attribute value kinds, named as on the wire.
const (
	KindNone Kind = iota
	KindS
	KindN
	KindB
	KindBOOL
	KindNULL
	KindM
	KindL
	KindSS
	KindNS
	KindBS
)

var kindNames = [...]string{"", "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}

// String returns the wire name of the kind ("S", "NS", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// KindFromName maps a wire type name to its kind; KindNone if unknown.
func KindFromName(s string) Kind {
	for i, n := range kindNames {
		if i > 0 && n == s {
			return Kind(i)
		}
	}
	return KindNone
}

// IsSet reports whether the kind is one of the set types.
func (k Kind) IsSet() bool { return k == KindSS || k == KindNS || k == KindBS }

// Value is one attribute value. S holds the string of an S, the canonical
// decimal text of an N, and the raw bytes of a B. Set holds the members of
// SS/NS/BS in the same forms.
type Value struct {
	Kind Kind
	Bool bool
	S    string
	L    []Value
	M    map[string]Value
	Set  []string
}

// Item is a DynamoDB item: attribute name to value.
type Item map[string]Value

// Str returns an S value.
func Str(s string) Value { return Value{Kind: KindS, S: s} }

// Bin returns a B value.
func Bin(b []byte) Value { return Value{Kind: KindB, S: string(b)} }

// Equal reports deep equality, treating sets as unordered.
func Equal(a, b Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case KindS, KindB:
		return a.S == b.S
	case KindN:
		return CompareNumbers(a.S, b.S) == 0
	case KindBOOL:
		return a.Bool == b.Bool
	case KindNULL:
		return true
	case KindL:
		if len(a.L) != len(b.L) {
			return false
		}
		for i := range a.L {
			if !Equal(a.L[i], b.L[i]) {
				return false
			}
		}
		return true
	case KindM:
		if len(a.M) != len(b.M) {
			return false
		}
		for k, v := range a.M {
			w, ok := b.M[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	case KindSS, KindBS, KindNS:
		if len(a.Set) != len(b.Set) {
			return false
		}
		for _, x := range a.Set {
			if !SetContains(a.Kind, b.Set, x) {
				return false
			}
		}
		return true
	}
	return false
}

// SetContains reports whether member x (canonical form) is in the set.
func SetContains(k Kind, set []string, x string) bool {
	for _, y := range set {
		if k == KindNS {
			if CompareNumbers(x, y) == 0 {
				return true
			}
		} else if x == y {
			return true
		}
	}
	return false
}

// Compare orders two scalar values of the same kind (S and B by bytes, N
// numerically). ok is false when the kinds differ or are not S, N or B.
func Compare(a, b Value) (c int, ok bool) {
	if a.Kind != b.Kind {
		return 0, false
	}
	switch a.Kind {
	case KindS, KindB:
		switch {
		case a.S < b.S:
			return -1, true
		case a.S > b.S:
			return 1, true
		}
		return 0, true
	case KindN:
		return CompareNumbers(a.S, b.S), true
	}
	return 0, false
}

// Clone returns a deep copy of v.
func (v Value) Clone() Value {
	switch v.Kind {
	case KindL:
		l := make([]Value, len(v.L))
		for i := range v.L {
			l[i] = v.L[i].Clone()
		}
		v.L = l
	case KindM:
		m := make(map[string]Value, len(v.M))
		for k, x := range v.M {
			m[k] = x.Clone()
		}
		v.M = m
	case KindSS, KindNS, KindBS:
		v.Set = append([]string(nil), v.Set...)
	}
	return v
}

// Clone returns a deep copy of the item.
func (it Item) Clone() Item {
	if it == nil {
		return nil
	}
	out := make(Item, len(it))
	for k, v := range it {
		out[k] = v.Clone()
	}
	return out
}

// sortedKeys returns the map's keys in byte order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SortSet orders set members canonically (numbers numerically, others by bytes).
func SortSet(k Kind, set []string) {
	if k == KindNS {
		sort.Slice(set, func(i, j int) bool { return CompareNumbers(set[i], set[j]) < 0 })
		return
	}
	sort.Strings(set)
}
