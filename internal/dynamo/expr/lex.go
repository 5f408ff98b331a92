// Package expr parses DynamoDB expressions (condition, filter, key condition,
// update and projection expressions) once into typed trees, checks them with
// DynamoDB's validation messages, and evaluates them on items.
package expr

import (
	"fmt"
	"strings"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tName  // #name
	tValue // :value
	tNumber
	tLParen
	tRParen
	tLBracket
	tRBracket
	tComma
	tDot
	tEq
	tNe
	tLt
	tLe
	tGt
	tGe
	tPlus
	tMinus
)

type token struct {
	kind       tokKind
	text       string
	start, end int
}

// Error is an expression error; its message is DynamoDB's text, prefixed with
// the kind of expression ("Invalid UpdateExpression: ...").
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func lex(kind, s string) ([]token, error) {
	toks := make([]token, 0, len(s)/3+2)
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case isIdentStart(c) || c == '#' || c == ':':
			j := i + 1
			for j < len(s) && isIdentPart(s[j]) {
				j++
			}
			k := tIdent
			if c == '#' {
				k = tName
			} else if c == ':' {
				k = tValue
			}
			toks = append(toks, token{k, s[i:j], i, j})
			i = j
			continue
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			toks = append(toks, token{tNumber, s[i:j], i, j})
			i = j
			continue
		}
		k := tEOF
		w := 1
		switch c {
		case '(':
			k = tLParen
		case ')':
			k = tRParen
		case '[':
			k = tLBracket
		case ']':
			k = tRBracket
		case ',':
			k = tComma
		case '.':
			k = tDot
		case '=':
			k = tEq
		case '+':
			k = tPlus
		case '-':
			k = tMinus
		case '<':
			k = tLt
			if i+1 < len(s) && s[i+1] == '=' {
				k, w = tLe, 2
			} else if i+1 < len(s) && s[i+1] == '>' {
				k, w = tNe, 2
			}
		case '>':
			k = tGt
			if i+1 < len(s) && s[i+1] == '=' {
				k, w = tGe, 2
			}
		default:
			return nil, &Error{fmt.Sprintf("Invalid %s: Invalid character encountered; character: %q", kind, string(rune(c)))}
		}
		toks = append(toks, token{k, s[i : i+w], i, i + w})
		i += w
	}
	toks = append(toks, token{tEOF, "<EOF>", len(s), len(s)})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func isKeyword(t token, word string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, word)
}

// IsReserved reports whether name is one of DynamoDB's reserved words.
func IsReserved(name string) bool {
	if len(name) > 16 {
		return false
	}
	var buf [16]byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	_, ok := reserved[string(buf[:len(name)])]
	return ok
}
