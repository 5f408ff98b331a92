package jsonx

import (
	"encoding/json"
	"testing"
)

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "tab\tnl\ncr\r", "\x00\x01\x1f\x7f", "ünïcödé 日本", "bad \xff utf8", "emoji 😀"} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
		if got := AppendBytes([]byte("x"), []byte(s)); string(got) != "x"+string(want) {
			t.Errorf("AppendBytes(%q) = %s, want x%s", s, got, want)
		}
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	s := "a line with \"quotes\", a tab\t and ünïcode"
	if n := testing.AllocsPerRun(100, func() { buf = AppendString(buf[:0], s) }); n != 0 {
		t.Errorf("AppendString allocates %v times", n)
	}
	bs := []byte(s + " 日本 \xff")
	if n := testing.AllocsPerRun(100, func() { buf = AppendBytes(buf[:0], bs) }); n != 0 {
		t.Errorf("AppendBytes allocates %v times", n)
	}
}
