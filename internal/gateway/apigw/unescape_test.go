package apigw

import (
	"encoding/json"
	"testing"
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
