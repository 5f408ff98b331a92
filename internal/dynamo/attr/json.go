package attr

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/edgeserverlessbox/esb/internal/jsonx"
)

// ErrorKind tells how the API reports a decoding error.
type ErrorKind uint8

// Error kinds: a malformed payload (SerializationException) or a well-formed
// but invalid value (ValidationException).
const (
	Serialization ErrorKind = iota
	Validation
)

// Error is a decoding or validation error with DynamoDB's message text.
type Error struct {
	Kind ErrorKind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func serr(format string, a ...any) error {
	return &Error{Kind: Serialization, Msg: fmt.Sprintf(format, a...)}
}

func verr(msg string) error { return &Error{Kind: Validation, Msg: msg} }

// UnmarshalJSON decodes one DynamoDB JSON attribute value, validating it.
func (v *Value) UnmarshalJSON(data []byte) error {
	d := decoder{data: data}
	d.ws()
	val, err := d.value()
	if err != nil {
		return err
	}
	*v = val
	return nil
}

// UnmarshalJSON decodes a DynamoDB JSON item ({"name": {"S": "x"}, ...}).
func (it *Item) UnmarshalJSON(data []byte) error {
	d := decoder{data: data}
	d.ws()
	if d.peek() == 'n' {
		if err := d.lit("null"); err != nil {
			return err
		}
		*it = nil
		return nil
	}
	m, err := d.itemMap()
	if err != nil {
		return err
	}
	*it = m
	return nil
}

// DecodeItem decodes stored or received item JSON.
func DecodeItem(data []byte) (Item, error) {
	var it Item
	if err := it.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return it, nil
}

type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	d.ws()
	if d.peek() != c {
		return d.unexpected()
	}
	d.pos++
	return nil
}

func (d *decoder) unexpected() error {
	if d.pos >= len(d.data) {
		return serr("Unexpected end of JSON input")
	}
	switch d.data[d.pos] {
	case '[':
		return serr("Start of list found where not expected")
	case '{':
		return serr("Start of structure or map found where not expected.")
	}
	return serr("Unexpected character (%q) at position %d", d.data[d.pos], d.pos)
}

func (d *decoder) lit(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.unexpected()
	}
	d.pos += len(word)
	return nil
}

// str reads a JSON string.
func (d *decoder) str() (string, error) {
	d.ws()
	if d.peek() != '"' {
		return "", d.unexpected()
	}
	d.pos++
	start := d.pos
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		if c == '"' {
			raw := d.data[start:d.pos]
			d.pos++
			if !utf8.Valid(raw) {
				// As encoding/json does, invalid UTF-8 becomes U+FFFD.
				return strings.ToValidUTF8(string(raw), "\uFFFD"), nil
			}
			return string(raw), nil
		}
		if c == '\\' {
			return d.strSlow(start)
		}
		if c < 0x20 {
			return "", serr("Illegal unquoted character in string")
		}
		d.pos++
	}
	return "", serr("Unexpected end of JSON input in string")
}

func (d *decoder) strSlow(start int) (string, error) {
	var b strings.Builder
	b.Write(d.data[start:d.pos])
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return strings.ToValidUTF8(b.String(), "\uFFFD"), nil
		case c == '\\':
			d.pos++
			if d.pos >= len(d.data) {
				return "", serr("Unexpected end of JSON input in string")
			}
			e := d.data[d.pos]
			d.pos++
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, err := d.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					if d.pos+6 <= len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
						d.pos += 2
						r2, err := d.hex4()
						if err != nil {
							return "", err
						}
						r = utf16.DecodeRune(r, r2)
					} else {
						r = utf8.RuneError
					}
				}
				b.WriteRune(r)
			default:
				return "", serr("Unrecognized character escape '%c'", e)
			}
		case c < 0x20:
			return "", serr("Illegal unquoted character in string")
		default:
			b.WriteByte(c)
			d.pos++
		}
	}
	return "", serr("Unexpected end of JSON input in string")
}

func (d *decoder) hex4() (rune, error) {
	if d.pos+4 > len(d.data) {
		return 0, serr("Unexpected end of JSON input in unicode escape")
	}
	n, err := strconv.ParseUint(string(d.data[d.pos:d.pos+4]), 16, 32)
	if err != nil {
		return 0, serr("Illegal unicode escape")
	}
	d.pos += 4
	return rune(n), nil
}

// itemMap reads {"name": <value>, ...}.
func (d *decoder) itemMap() (Item, error) {
	if err := d.expect('{'); err != nil {
		return nil, err
	}
	m := make(Item, 8)
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return m, nil
	}
	for {
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		if err := d.expect(':'); err != nil {
			return nil, err
		}
		d.ws()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, d.unexpected()
		}
	}
}

// strList reads ["a", "b"].
func (d *decoder) strList() ([]string, error) {
	if err := d.expect('['); err != nil {
		return nil, err
	}
	var out []string
	d.ws()
	if d.peek() == ']' {
		d.pos++
		return []string{}, nil
	}
	for {
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return out, nil
		default:
			return nil, d.unexpected()
		}
	}
}

func decodeB64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", serr("Base64 encoded value %q is not valid: %v", s, err)
	}
	return string(b), nil
}

// value reads one {"T": ...} attribute value.
func (d *decoder) value() (Value, error) {
	var v Value
	if d.peek() == 'n' {
		return v, serr("Supplied AttributeValue is null")
	}
	if err := d.expect('{'); err != nil {
		return v, err
	}
	n := 0
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return v, verr("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	}
	for {
		key, err := d.str()
		if err != nil {
			return v, err
		}
		if err := d.expect(':'); err != nil {
			return v, err
		}
		d.ws()
		if d.peek() == 'n' { // null members are as good as absent
			if err := d.lit("null"); err != nil {
				return v, err
			}
		} else {
			n++
			if err := d.member(&v, key); err != nil {
				return v, err
			}
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.pos++
			continue
		case '}':
			d.pos++
		default:
			return v, d.unexpected()
		}
		break
	}
	if n == 0 {
		return v, verr("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	}
	if n > 1 {
		return v, verr("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	return v, nil
}

func (d *decoder) member(v *Value, key string) error {
	var err error
	switch key {
	case "S":
		v.Kind = KindS
		v.S, err = d.str()
	case "N":
		v.Kind = KindN
		var s string
		if s, err = d.str(); err == nil {
			v.S, err = NormalizeNumber(s)
			if err != nil {
				err = verr(err.Error())
			}
		}
	case "B":
		v.Kind = KindB
		var s string
		if s, err = d.str(); err == nil {
			v.S, err = decodeB64(s)
		}
	case "BOOL":
		v.Kind = KindBOOL
		switch d.peek() {
		case 't':
			v.Bool = true
			err = d.lit("true")
		case 'f':
			err = d.lit("false")
		default:
			err = serr("class java.lang.String can not be converted to an Boolean")
		}
	case "NULL":
		v.Kind = KindNULL
		switch d.peek() {
		case 't':
			err = d.lit("true")
		case 'f':
			if err = d.lit("false"); err == nil {
				err = verr("One or more parameter values were invalid: Null attribute value types must have the value of true")
			}
		default:
			err = serr("class java.lang.String can not be converted to an Boolean")
		}
	case "M":
		v.Kind = KindM
		v.M, err = d.itemMap()
	case "L":
		v.Kind = KindL
		err = d.expect('[')
		if err != nil {
			return err
		}
		v.L = []Value{}
		d.ws()
		if d.peek() == ']' {
			d.pos++
			return nil
		}
		for {
			d.ws()
			var e Value
			e, err = d.value()
			if err != nil {
				return err
			}
			v.L = append(v.L, e)
			d.ws()
			if d.peek() == ',' {
				d.pos++
				continue
			}
			return d.expect(']')
		}
	case "SS", "NS", "BS":
		v.Kind = KindFromName(key)
		if v.Set, err = d.strList(); err != nil {
			return err
		}
		return checkSet(v)
	default:
		return serr("Unknown AttributeValue datatype %q", key)
	}
	return err
}

func checkSet(v *Value) error {
	if len(v.Set) == 0 {
		switch v.Kind {
		case KindSS:
			return verr("One or more parameter values were invalid: An string set  may not be empty")
		case KindNS:
			return verr("One or more parameter values were invalid: An number set  may not be empty")
		default:
			return verr("One or more parameter values were invalid: Binary sets should not be empty")
		}
	}
	for i, s := range v.Set {
		switch v.Kind {
		case KindNS:
			n, err := NormalizeNumber(s)
			if err != nil {
				return verr(err.Error())
			}
			v.Set[i] = n
		case KindBS:
			b, err := decodeB64(s)
			if err != nil {
				return err
			}
			v.Set[i] = b
		}
	}
	seen := make(map[string]struct{}, len(v.Set))
	for _, s := range v.Set {
		if _, dup := seen[s]; dup {
			return verr("One or more parameter values were invalid: Input collection [" + strings.Join(v.Set, ", ") + "] contains duplicates.")
		}
		seen[s] = struct{}{}
	}
	return nil
}

// MarshalJSON encodes the value as DynamoDB JSON.
func (v Value) MarshalJSON() ([]byte, error) { return AppendValue(nil, v), nil }

// MarshalJSON encodes the item as DynamoDB JSON.
func (it Item) MarshalJSON() ([]byte, error) { return AppendItem(nil, it), nil }

// AppendItem appends the item's DynamoDB JSON to buf. Attribute names are
// written in byte order so the output is deterministic.
func AppendItem(buf []byte, it Item) []byte {
	if it == nil {
		return append(buf, "null"...)
	}
	buf = append(buf, '{')
	if len(it) <= 1 {
		for k, v := range it {
			buf = jsonx.AppendString(buf, k)
			buf = append(buf, ':')
			buf = AppendValue(buf, v)
		}
	} else {
		for i, k := range sortedKeys(it) {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = jsonx.AppendString(buf, k)
			buf = append(buf, ':')
			buf = AppendValue(buf, it[k])
		}
	}
	return append(buf, '}')
}

// AppendValue appends one value's DynamoDB JSON to buf.
func AppendValue(buf []byte, v Value) []byte {
	switch v.Kind {
	case KindS:
		buf = append(buf, `{"S":`...)
		buf = jsonx.AppendString(buf, v.S)
	case KindN:
		buf = append(buf, `{"N":"`...)
		buf = append(buf, v.S...)
		buf = append(buf, '"')
	case KindB:
		buf = append(buf, `{"B":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, []byte(v.S))
		buf = append(buf, '"')
	case KindBOOL:
		if v.Bool {
			return append(buf, `{"BOOL":true}`...)
		}
		return append(buf, `{"BOOL":false}`...)
	case KindNULL:
		return append(buf, `{"NULL":true}`...)
	case KindM:
		buf = append(buf, `{"M":`...)
		buf = AppendItem(buf, v.M)
		if v.M == nil {
			buf = append(buf[:len(buf)-4], "{}"...)
		}
	case KindL:
		buf = append(buf, `{"L":[`...)
		for i, e := range v.L {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendValue(buf, e)
		}
		buf = append(buf, ']')
	case KindSS, KindNS, KindBS:
		buf = append(buf, `{"`...)
		buf = append(buf, v.Kind.String()...)
		buf = append(buf, `":[`...)
		for i, s := range v.Set {
			if i > 0 {
				buf = append(buf, ',')
			}
			switch v.Kind {
			case KindSS:
				buf = jsonx.AppendString(buf, s)
			case KindNS:
				buf = append(buf, '"')
				buf = append(buf, s...)
				buf = append(buf, '"')
			default:
				buf = append(buf, '"')
				buf = base64.StdEncoding.AppendEncode(buf, []byte(s))
				buf = append(buf, '"')
			}
		}
		buf = append(buf, ']')
	default:
		return append(buf, "null"...)
	}
	return append(buf, '}')
}
