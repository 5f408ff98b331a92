// Package schedule parses the schedule expressions of Amazon EventBridge
// rules and EventBridge Scheduler — rate(…), cron(…) and at(…) — computes
// their next fire times, and runs them on timers (Scheduler).
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is the form of an expression.
type Kind int

// Kinds of expressions.
const (
	// Rate is rate(value unit): every value minutes, hours or days, counted
	// from when the schedule starts.
	Rate Kind = iota + 1
	// Cron is cron(minutes hours day-of-month month day-of-week year).
	Cron
	// At is at(yyyy-mm-ddThh:mm:ss): once (EventBridge Scheduler only).
	At
)

// Expr is a parsed schedule expression bound to a time zone. Its zero value
// is not usable; make one with Parse or ParseIn.
type Expr struct {
	src   string
	kind  Kind
	every time.Duration
	cron  *cronSpec
	at    time.Time
	loc   *time.Location
}

// Parse parses an expression evaluated in UTC, as EventBridge rules are.
func Parse(s string) (*Expr, error) { return ParseIn(s, time.UTC) }

// ParseIn parses an expression whose cron fields and at() time are wall
// clock times in loc (EventBridge Scheduler's ScheduleExpressionTimezone).
func ParseIn(s string, loc *time.Location) (*Expr, error) {
	if loc == nil {
		loc = time.UTC
	}
	e := &Expr{src: s, loc: loc}
	open := strings.IndexByte(s, '(')
	if open < 0 || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("schedule %q: want rate(value unit), cron(minutes hours day-of-month month day-of-week year) or at(yyyy-mm-ddThh:mm:ss)", s)
	}
	body := s[open+1 : len(s)-1]
	var err error
	switch s[:open] {
	case "rate":
		e.kind = Rate
		e.every, err = parseRate(body)
	case "cron":
		e.kind = Cron
		e.cron, err = parseCron(body)
	case "at":
		e.kind = At
		e.at, err = time.ParseInLocation("2006-01-02T15:04:05", strings.TrimSpace(body), loc)
		if err != nil {
			err = fmt.Errorf("want at(yyyy-mm-ddThh:mm:ss), e.g. at(2030-01-31T09:30:00)")
		}
	default:
		return nil, fmt.Errorf("schedule %q: want rate(…), cron(…) or at(…)", s)
	}
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", s, err)
	}
	return e, nil
}

// String returns the expression as written.
func (e *Expr) String() string { return e.src }

// Kind reports the expression's form.
func (e *Expr) Kind() Kind { return e.kind }

// Every is a rate expression's period (0 for cron and at).
func (e *Expr) Every() time.Duration { return e.every }

// Location is the time zone the expression is evaluated in.
func (e *Expr) Location() *time.Location { return e.loc }

// Next returns the first fire time strictly after t, or the zero time when
// there is none (an at() in the past, a cron whose years have passed). A
// rate fires every period after t (the scheduler passes its start or the
// previous fire time).
func (e *Expr) Next(t time.Time) time.Time {
	switch e.kind {
	case Rate:
		return t.Add(e.every)
	case At:
		if e.at.After(t) {
			return e.at
		}
		return time.Time{}
	case Cron:
		return e.cron.next(t.In(e.loc))
	}
	return time.Time{}
}

// parseRate parses "value unit". As EventBridge validates, value is a
// positive integer and the unit is singular for 1 and plural otherwise.
func parseRate(body string) (time.Duration, error) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return 0, fmt.Errorf("want rate(value unit), e.g. rate(1 minute) or rate(5 minutes)")
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("rate value %q must be a positive whole number", f[0])
	}
	unit := f[1]
	plural := strings.HasSuffix(unit, "s")
	var d time.Duration
	switch strings.TrimSuffix(unit, "s") {
	case "minute":
		d = time.Minute
	case "hour":
		d = time.Hour
	case "day":
		d = 24 * time.Hour
	default:
		return 0, fmt.Errorf("rate unit %q must be minute(s), hour(s) or day(s)", unit)
	}
	if n == 1 && plural {
		return 0, fmt.Errorf("use the singular unit for 1: rate(1 %s)", strings.TrimSuffix(unit, "s"))
	}
	if n > 1 && !plural {
		return 0, fmt.Errorf("use the plural unit for %d: rate(%d %ss)", n, n, unit)
	}
	if n > int64(100*365*24*time.Hour/d) {
		return 0, fmt.Errorf("rate value %d is too large", n)
	}
	return time.Duration(n) * d, nil
}
