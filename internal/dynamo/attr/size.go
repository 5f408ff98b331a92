package attr

// MaxItemSize is DynamoDB's item size limit (400 KB, names included).
const MaxItemSize = 400 * 1024

// Size returns the value's size by DynamoDB's rules: strings and binaries by
// length, numbers one byte per two significant digits plus one, BOOL and NULL
// one byte, lists and maps 3 bytes plus one per element plus their contents.
func Size(v Value) int {
	switch v.Kind {
	case KindS, KindB:
		return len(v.S)
	case KindN:
		return numberSize(v.S)
	case KindBOOL, KindNULL:
		return 1
	case KindL:
		n := 3 + len(v.L)
		for _, e := range v.L {
			n += Size(e)
		}
		return n
	case KindM:
		n := 3 + len(v.M)
		for k, e := range v.M {
			n += len(k) + Size(e)
		}
		return n
	case KindSS, KindBS:
		n := 0
		for _, s := range v.Set {
			n += len(s)
		}
		return n
	case KindNS:
		n := 0
		for _, s := range v.Set {
			n += numberSize(s)
		}
		return n
	}
	return 0
}

// ItemSize returns the item's size: each attribute's name length plus its value's size.
func ItemSize(it Item) int {
	n := 0
	for k, v := range it {
		n += len(k) + Size(v)
	}
	return n
}
