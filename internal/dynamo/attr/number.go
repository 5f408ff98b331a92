package attr

import (
	"errors"
	"math/big"
	"strings"
)

// Number is a DynamoDB number: value = sign × 0.Digits × 10^Exp, with Digits
// free of leading and trailing zeros (empty for zero). At most 38 digits, and
// a magnitude between 1E-130 and 9.99…E+125, as DynamoDB stores them.
type Number struct {
	Neg    bool
	Digits string
	Exp    int
}

// Limits of DynamoDB numbers.
const (
	MaxDigits = 38
	maxExp    = 126  // value < 1E+126
	minExp    = -129 // value >= 1E-130
)

// Number validation errors, worded as DynamoDB words them.
var (
	ErrTooManyDigits = errors.New("Attempting to store more than 38 significant digits in a Number")
	ErrOverflow      = errors.New("Number overflow. Attempting to store a number with magnitude larger than supported range")
	ErrUnderflow     = errors.New("Number underflow. Attempting to store a number with magnitude smaller than supported range")
)

// NumberFormatError is returned for text that is not a number.
type NumberFormatError struct{ Text string }

func (e *NumberFormatError) Error() string {
	if e.Text == "" {
		return "The parameter cannot be converted to a numeric value"
	}
	return "The parameter cannot be converted to a numeric value: " + e.Text
}

// ParseNumber parses decimal text ("-12.50", "1e3") and checks DynamoDB's limits.
func ParseNumber(s string) (Number, error) {
	n, ok := parseNumber(s)
	if !ok {
		return Number{}, &NumberFormatError{Text: s}
	}
	return n, n.check()
}

func (n Number) check() error {
	if n.Digits == "" {
		return nil
	}
	if len(n.Digits) > MaxDigits {
		return ErrTooManyDigits
	}
	if n.Exp > maxExp {
		return ErrOverflow
	}
	if n.Exp < minExp {
		return ErrUnderflow
	}
	return nil
}

func parseNumber(s string) (Number, bool) {
	var n Number
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		n.Neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[intStart:i]
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
	}
	if intPart == "" && frac == "" {
		return n, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if exp < 100000 {
				exp = exp*10 + int(s[i]-'0')
			}
			i++
		}
		if es == i {
			return n, false
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return n, false
	}
	// digits = intPart+frac; point after len(intPart).
	all := intPart + frac
	point := len(intPart)
	lead := 0
	for lead < len(all) && all[lead] == '0' {
		lead++
	}
	all = all[lead:]
	point -= lead
	all = strings.TrimRight(all, "0")
	if all == "" {
		return Number{}, true
	}
	n.Digits = all
	n.Exp = point + exp
	return n, true
}

// String returns the canonical plain decimal text DynamoDB returns.
func (n Number) String() string {
	if n.Digits == "" {
		return "0"
	}
	var b strings.Builder
	b.Grow(len(n.Digits) + 4)
	if n.Neg {
		b.WriteByte('-')
	}
	p := n.Exp
	switch {
	case p <= 0:
		b.WriteString("0.")
		for i := 0; i < -p; i++ {
			b.WriteByte('0')
		}
		b.WriteString(n.Digits)
	case p >= len(n.Digits):
		b.WriteString(n.Digits)
		for i := len(n.Digits); i < p; i++ {
			b.WriteByte('0')
		}
	default:
		b.WriteString(n.Digits[:p])
		b.WriteByte('.')
		b.WriteString(n.Digits[p:])
	}
	return b.String()
}

// NormalizeNumber validates decimal text and returns its canonical form.
func NormalizeNumber(s string) (string, error) {
	n, err := ParseNumber(s)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

// Cmp orders two numbers.
func (n Number) Cmp(m Number) int {
	sn, sm := n.sign(), m.sign()
	if sn != sm {
		if sn < sm {
			return -1
		}
		return 1
	}
	if sn == 0 {
		return 0
	}
	c := 0
	switch {
	case n.Exp < m.Exp:
		c = -1
	case n.Exp > m.Exp:
		c = 1
	default:
		c = strings.Compare(n.Digits, m.Digits)
	}
	return c * sn
}

func (n Number) sign() int {
	if n.Digits == "" {
		return 0
	}
	if n.Neg {
		return -1
	}
	return 1
}

// CompareNumbers orders two numbers given as text; unparsable text sorts as zero.
func CompareNumbers(a, b string) int {
	if a == b {
		return 0
	}
	x, _ := parseNumber(a)
	y, _ := parseNumber(b)
	return x.Cmp(y)
}

// AddNumbers returns a+b (or a−b when sub) as canonical text, exactly, and
// fails when the result leaves DynamoDB's range or precision.
func AddNumbers(a, b string, sub bool) (string, error) {
	x, ok := parseNumber(a)
	if !ok {
		return "", &NumberFormatError{Text: a}
	}
	y, ok := parseNumber(b)
	if !ok {
		return "", &NumberFormatError{Text: b}
	}
	if sub {
		y.Neg = !y.Neg
	}
	if y.Digits == "" {
		return x.String(), nil
	}
	if x.Digits == "" {
		return y.String(), x.check()
	}
	xi, xs := x.bigScaled()
	yi, ys := y.bigScaled()
	scale := min(xs, ys)
	ten := big.NewInt(10)
	if xs > scale {
		xi.Mul(xi, new(big.Int).Exp(ten, big.NewInt(int64(xs-scale)), nil))
	}
	if ys > scale {
		yi.Mul(yi, new(big.Int).Exp(ten, big.NewInt(int64(ys-scale)), nil))
	}
	sum := new(big.Int).Add(xi, yi)
	var r Number
	if sum.Sign() == 0 {
		return "0", nil
	}
	r.Neg = sum.Sign() < 0
	digits := new(big.Int).Abs(sum).String()
	r.Exp = len(digits) + scale
	r.Digits = strings.TrimRight(digits, "0")
	if err := r.check(); err != nil {
		return "", err
	}
	return r.String(), nil
}

// bigScaled returns the integer mantissa and the power of ten it is scaled by.
func (n Number) bigScaled() (*big.Int, int) {
	i, _ := new(big.Int).SetString(n.Digits, 10)
	if n.Neg {
		i.Neg(i)
	}
	return i, n.Exp - len(n.Digits)
}

// numberSize is the stored size of a number by DynamoDB's rule: one byte per
// two significant digits plus one.
func numberSize(s string) int {
	n, _ := parseNumber(s)
	if n.Digits == "" {
		return 1
	}
	// Digits are grouped in pairs around the decimal point, as DynamoDB does.
	d := len(n.Digits)
	if n.Exp%2 != 0 {
		d++
	}
	return (d+1)/2 + 1
}
