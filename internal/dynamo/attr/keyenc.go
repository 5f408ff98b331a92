package attr

import "strings"

// AppendKey appends the order-preserving, prefix-free encoding of a key value
// (S, N or B) to buf: comparing two encodings byte-wise orders them as
// DynamoDB orders the values (S and B by unsigned bytes, N numerically), and no
// encoding is a prefix of another, so encodings can be concatenated.
//
//	S, B:  bytes with 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x01
//	N:     0x80 for zero; positive 0xC0, exponent+0x8000 (2 bytes), digits, 0x00;
//	       negative 0x40, then the complement of exponent and digits, 0xFF
func AppendKey(buf []byte, v Value) []byte {
	switch v.Kind {
	case KindS, KindB:
		return AppendKeyPrefix(buf, v.S, true)
	case KindN:
		n, _ := parseNumber(v.S)
		return appendNumberKey(buf, n)
	}
	return buf
}

// AppendKeyPrefix appends the escaped bytes of s; with terminate it also
// appends the terminator. Without it, the result is a prefix of the encoding of
// every string that starts with s (used by begins_with).
func AppendKeyPrefix(buf []byte, s string, terminate bool) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			break
		}
		buf = append(buf, s[:i]...)
		buf = append(buf, 0x00, 0xFF)
		s = s[i+1:]
	}
	buf = append(buf, s...)
	if terminate {
		buf = append(buf, 0x00, 0x01)
	}
	return buf
}

func appendNumberKey(buf []byte, n Number) []byte {
	if n.Digits == "" {
		return append(buf, 0x80)
	}
	e := uint16(n.Exp + 0x8000)
	if !n.Neg {
		buf = append(buf, 0xC0, byte(e>>8), byte(e))
		buf = append(buf, n.Digits...)
		return append(buf, 0x00)
	}
	buf = append(buf, 0x40, ^byte(e>>8), ^byte(e))
	for i := 0; i < len(n.Digits); i++ {
		buf = append(buf, ^n.Digits[i])
	}
	return append(buf, 0xFF)
}

// PrefixEnd returns the smallest key greater than every key that starts with
// prefix, or nil when there is none (prefix is all 0xFF).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
