package apigw

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// unquote and unquoteBytes must decode exactly as encoding/json does.
func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	for _, raw := range []string{
		`""`, `"plain"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u4e2d\u0041"`,
		`"\ud83d\ude00 pair"`, `"\ud83d lone high"`, `"\ude00 lone low"`, `"\ud83d\u0041 high then BMP"`,
		`"\ud83d\ud83d two highs"`, "\"caf\xc3\xa9 \\n utf8\"", "\"bad \xff\xfe utf8 \\t\"", `"{\"hello\":\"world\"}"`,
		`"\u0000nul"`, `"\uFFFD\uffff"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		got, err := unquote([]byte(raw))
		if err != nil || got != want {
			t.Errorf("unquote(%s) = %q, %v; want %q", raw, got, err, want)
		}
		gb, err := unquoteBytes([]byte(raw))
		if err != nil || string(gb) != want {
			t.Errorf("unquoteBytes(%s) = %q, %v; want %q", raw, gb, err, want)
		}
	}
	for _, bad := range []string{`"\x"`, `"\u12"`, `"\u12g4"`, `"\`} {
		if _, err := unquoteBytes([]byte(bad + `"`)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// appendStringRef is the byte-at-a-time form appendString must match.
func appendStringRef(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

func TestAppendStringWordAtATime(t *testing.T) {
	specials := []string{"a", "Z", "0", " ", "~", "\x7f", "\"", "\\", "\n", "\x00", "\x1f", "é", "\u2028", "\xff", "中", "/"}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 5000 {
		var b strings.Builder
		for range r.IntN(40) {
			if r.IntN(4) == 0 {
				b.WriteString(specials[r.IntN(len(specials))])
			} else {
				b.WriteByte(byte('!' + r.IntN(90)))
			}
		}
		s := b.String()
		if got, want := string(appendString(nil, s)), string(appendStringRef(nil, s)); got != want {
			t.Fatalf("case %d %q: got %s, want %s", n, s, got, want)
		}
	}
}
