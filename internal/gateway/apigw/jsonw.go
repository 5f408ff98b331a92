package apigw

import (
	"encoding/base64"
	"encoding/binary"
	"sort"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// safeASCII marks the bytes that need no escaping in a JSON string.
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs a look (long header
		// values such as bearer tokens are plain ASCII).
		for i+8 <= len(s) && plainWord(binary.LittleEndian.Uint64([]byte(s[i:i+8]))) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		if safeASCII[s[i]] {
			i++
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"':
				dst = append(dst, '\\', '"')
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainWord tells whether none of the eight bytes of w needs escaping: no
// control character, '"', '\\' or non-ASCII byte.
func plainWord(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasLess := func(x uint64, n uint64) uint64 { return (x - ones*n) & ^x & highs }
	hasZero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	bad := w&highs | hasLess(w, 0x20) | hasZero(w^(ones*'"')) | hasZero(w^(ones*'\\'))
	return bad == 0
}

// appendBytesString appends b as a JSON string (b is text).
func appendBytesString(dst, b []byte) []byte {
	// Converting to string here does not copy for the call (the compiler
	// avoids the allocation for a non-escaping conversion).
	return appendString(dst, string(b))
}

// appendBase64String appends b base64-encoded (standard alphabet) as a JSON string.
func appendBase64String(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

func appendKey(dst []byte, k string) []byte {
	dst = appendString(dst, k)
	return append(dst, ':')
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// appendStringMap appends m as a JSON object with sorted keys, or null when empty
// and nullIfEmpty is set.
func appendStringMap(dst []byte, m map[string]string, nullIfEmpty bool) []byte {
	if len(m) == 0 {
		if nullIfEmpty {
			return append(dst, "null"...)
		}
		return append(dst, "{}"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, k)
		dst = appendString(dst, m[k])
	}
	return append(dst, '}')
}
