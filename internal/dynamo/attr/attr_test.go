package attr

import (
	"bytes"
	"errors"
	"math/big"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
)

func TestNormalizeNumber(t *testing.T) {
	cases := map[string]string{
		"0": "0", "-0": "0", "00.000": "0", "1.50": "1.5", "+7": "7", "-012.0": "-12",
		"1e3": "1000", "1.5E-2": "0.015", ".5": "0.5", "5.": "5", "123.456": "123.456",
		"1E125":  "1" + string(bytes.Repeat([]byte("0"), 125)),
		"1E-130": "0." + string(bytes.Repeat([]byte("0"), 129)) + "1",
	}
	for in, want := range cases {
		got, err := NormalizeNumber(in)
		if err != nil || got != want {
			t.Errorf("NormalizeNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]error{
		"1E126":  ErrOverflow,
		"1E-131": ErrUnderflow,
		"123456789012345678901234567890123456789": ErrTooManyDigits,
	}
	for in, want := range bad {
		if _, err := NormalizeNumber(in); !errors.Is(err, want) {
			t.Errorf("NormalizeNumber(%q) err = %v; want %v", in, err, want)
		}
	}
	for _, in := range []string{"", "abc", "1e", "--1", "1.2.3", " 1", "0x10", "NaN", "Infinity"} {
		var fe *NumberFormatError
		if _, err := NormalizeNumber(in); !errors.As(err, &fe) {
			t.Errorf("NormalizeNumber(%q) err = %v; want a format error", in, err)
		}
	}
}

func randNumber(r *rand.Rand) string {
	digits := r.IntN(38) + 1
	b := make([]byte, 0, 50)
	if r.IntN(2) == 0 {
		b = append(b, '-')
	}
	for i := 0; i < digits; i++ {
		b = append(b, byte('0'+r.IntN(10)))
	}
	b = append(b, 'e')
	b = strconv.AppendInt(b, int64(r.IntN(60)-30), 10)
	return string(b)
}

func TestNumberOrderAndKeyEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	nums := make([]string, 0, 2000)
	for i := 0; i < 2000; i++ {
		n, err := NormalizeNumber(randNumber(r))
		if err != nil {
			continue
		}
		nums = append(nums, n)
	}
	nums = append(nums, "0", "1", "-1", "0.1", "-0.1", "10", "-10", "0.15", "-0.15")
	for i := 0; i < len(nums); i++ {
		j := r.IntN(len(nums))
		a, b := nums[i], nums[j]
		ra, _ := new(big.Rat).SetString(a)
		rb, _ := new(big.Rat).SetString(b)
		want := ra.Cmp(rb)
		if got := CompareNumbers(a, b); got != want {
			t.Fatalf("CompareNumbers(%s, %s) = %d; want %d", a, b, got, want)
		}
		ka := AppendKey(nil, Value{Kind: KindN, S: a})
		kb := AppendKey(nil, Value{Kind: KindN, S: b})
		if got := bytes.Compare(ka, kb); got != want {
			t.Fatalf("key order of %s, %s = %d; want %d", a, b, got, want)
		}
	}
}

func TestStringKeyEncodingOrderAndPrefixFree(t *testing.T) {
	vals := []string{"", "\x00", "\x00\x00", "\x00\x01", "a", "a\x00", "a\x00b", "ab", "b", "\xff", "é", "z", "日本", "😀"}
	sorted := append([]string(nil), vals...)
	sort.Strings(sorted)
	keys := make([][]byte, len(sorted))
	for i, s := range sorted {
		keys[i] = AppendKey(nil, Str(s))
	}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1], keys[i]) >= 0 {
			t.Fatalf("encoding of %q !< %q", sorted[i-1], sorted[i])
		}
		// Concatenation keeps the order of the first component.
		a := append(append([]byte(nil), keys[i-1]...), AppendKey(nil, Str("zzz"))...)
		b := append(append([]byte(nil), keys[i]...), AppendKey(nil, Str(""))...)
		if bytes.Compare(a, b) >= 0 {
			t.Fatalf("composite order broken for %q, %q", sorted[i-1], sorted[i])
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := `{"a":{"S":"x\"y\u00e9\n"},"b":{"N":"01.50"},"c":{"B":"AAEC"},"d":{"BOOL":true},"e":{"NULL":true},` +
		`"f":{"L":[{"S":"1"},{"N":"2"}]},"g":{"M":{"h":{"SS":["p","q"]}}},"i":{"NS":["1","2.0"]},"j":{"BS":["AA=="]}}`
	it, err := DecodeItem([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if it["a"].S != "x\"yé\n" || it["b"].S != "1.5" || it["c"].S != "\x00\x01\x02" || it["i"].Set[1] != "2" {
		t.Fatalf("decoded wrong: %#v", it)
	}
	out := AppendItem(nil, it)
	back, err := DecodeItem(out)
	if err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	for k, v := range it {
		if !Equal(v, back[k]) {
			t.Fatalf("attribute %s differs after round trip: %s", k, out)
		}
	}
}

func TestJSONValidation(t *testing.T) {
	cases := map[string]string{
		`{"a":{}}`:                    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
		`{"a":{"S":"x","N":"1"}}`:     "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
		`{"a":{"SS":[]}}`:             "One or more parameter values were invalid: An string set  may not be empty",
		`{"a":{"SS":["x","x"]}}`:      "One or more parameter values were invalid: Input collection [x, x] contains duplicates.",
		`{"a":{"N":"abc"}}`:           "The parameter cannot be converted to a numeric value: abc",
		`{"a":{"NULL":false}}`:        "One or more parameter values were invalid: Null attribute value types must have the value of true",
		`{"a":{"L":[{"N":"1e200"}]}}`: ErrOverflow.Error(),
	}
	for in, want := range cases {
		_, err := DecodeItem([]byte(in))
		var ae *Error
		if !errors.As(err, &ae) || ae.Kind != Validation || ae.Msg != want {
			t.Errorf("DecodeItem(%s) = %v; want validation %q", in, err, want)
		}
	}
	for _, in := range []string{`{"a":[1]}`, `{"a":{"B":"!!"}}`, `{"a":{"S":1}}`, `{"a"`} {
		_, err := DecodeItem([]byte(in))
		var ae *Error
		if !errors.As(err, &ae) || ae.Kind != Serialization {
			t.Errorf("DecodeItem(%s) = %v; want a serialization error", in, err)
		}
	}
}

func TestSize(t *testing.T) {
	it := Item{"ab": Str("hello"), "n": {Kind: KindN, S: "123"}, "l": {Kind: KindL, L: []Value{Str("x"), {Kind: KindBOOL}}}}
	// ab:2+5, n:1+3 (3 digits → 2 bytes +1), l:1+3+2+1+1
	if got := ItemSize(it); got != 7+4+8 {
		t.Fatalf("ItemSize = %d", got)
	}
}

func FuzzDecodeItem(f *testing.F) {
	for _, s := range []string{
		`{"a":{"S":"x"}}`, `{"a":{"N":"-1.5e3"},"b":{"L":[{"NULL":true},{"BOOL":false}]}}`,
		`{"m":{"M":{"x":{"SS":["a","b"]},"y":{"NS":["1","2"]},"z":{"BS":["AA=="]}}}}`, `{"a":{"S":"\u00e9\ud83d\ude00\\n"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := DecodeItem(data)
		if err != nil {
			return
		}
		out := AppendItem(nil, it)
		back, err := DecodeItem(out)
		if err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		for k, v := range it {
			if !Equal(v, back[k]) {
				t.Fatalf("attribute %q changed: %s", k, out)
			}
			_ = Size(v)
		}
	})
}
