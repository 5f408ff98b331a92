package schedule

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Year bounds of EventBridge's cron Year field.
const (
	minYear = 1970
	maxYear = 2199
)

// cronSpec is a parsed cron(…) expression. Sets are bitsets indexed by value
// (years by year-minYear).
type cronSpec struct {
	minutes uint64
	hours   uint64
	months  uint64
	years   [4]uint64

	// Day-of-month; domAny is '?'.
	domAny         bool
	days           uint64 // 1-31
	lastDay        bool   // L
	lastWeekday    bool   // LW
	nearestWeekday int    // nW; 0 = none

	// Day-of-week (1 = Sunday … 7 = Saturday); dowAny is '?'.
	dowAny  bool
	weekday uint64 // 1-7
	lastOf  int    // nL: the last n-day of the month; 0 = none
	nthDay  int    // n#k: the k-th n-day of the month; 0 = none
	nth     int
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

// field describes one cron field for parsing.
type field struct {
	name     string
	min, max int
	names    map[string]int
	step     bool // '/' allowed
}

var (
	fMinutes = field{"Minutes", 0, 59, nil, true}
	fHours   = field{"Hours", 0, 23, nil, true}
	fDoM     = field{"Day-of-month", 1, 31, nil, true}
	fMonth   = field{"Month", 1, 12, monthNames, true}
	fDoW     = field{"Day-of-week", 1, 7, dayNames, false}
	fYear    = field{"Year", minYear, maxYear, nil, true}
)

// parseCron parses the six fields of cron(…) with EventBridge's rules.
func parseCron(body string) (*cronSpec, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, fmt.Errorf("cron needs 6 fields (minutes hours day-of-month month day-of-week year), got %d; e.g. cron(0 12 * * ? *)", len(f))
	}
	c := &cronSpec{}
	var err error
	if c.minutes, err = fMinutes.parse(f[0]); err != nil {
		return nil, err
	}
	if c.hours, err = fHours.parse(f[1]); err != nil {
		return nil, err
	}
	if err = c.parseDoM(f[2]); err != nil {
		return nil, err
	}
	if c.months, err = fMonth.parse(f[3]); err != nil {
		return nil, err
	}
	if err = c.parseDoW(f[4]); err != nil {
		return nil, err
	}
	if f[5] == "*" {
		c.years = [4]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
	} else {
		// Years span more than 64 values: parse term by term into the array.
		for term := range strings.SplitSeq(f[5], ",") {
			lo, hi, step, err := fYear.term(term)
			if err != nil {
				return nil, err
			}
			for y := lo; y <= hi; y += step {
				i := y - minYear
				c.years[i/64] |= 1 << (i % 64)
			}
		}
	}
	switch {
	case c.domAny && c.dowAny:
		return nil, fmt.Errorf("only one of Day-of-month and Day-of-week may be ?; e.g. cron(0 12 * * ? *)")
	case !c.domAny && !c.dowAny:
		return nil, fmt.Errorf("one of Day-of-month (%s) and Day-of-week (%s) must be ?; e.g. cron(0 12 * * ? *) or cron(0 12 ? * MON-FRI *)", f[2], f[4])
	}
	return c, nil
}

func (c *cronSpec) parseDoM(s string) error {
	u := strings.ToUpper(s)
	switch {
	case u == "?":
		c.domAny = true
	case u == "L":
		c.lastDay = true
	case u == "LW":
		c.lastWeekday = true
	case strings.HasSuffix(u, "W"):
		n, err := fDoM.value(u[:len(u)-1])
		if err != nil {
			return fmt.Errorf("Day-of-month %q: W needs a single day before it (e.g. 15W): %w", s, err)
		}
		c.nearestWeekday = n
	default:
		set, err := fDoM.parse(s)
		if err != nil {
			return err
		}
		c.days = set
	}
	return nil
}

func (c *cronSpec) parseDoW(s string) error {
	u := strings.ToUpper(s)
	switch {
	case u == "?":
		c.dowAny = true
	case u == "L":
		// L alone is the last day of the week: Saturday.
		c.weekday = 1 << 7
	case strings.HasSuffix(u, "L"):
		n, err := fDoW.value(u[:len(u)-1])
		if err != nil {
			return fmt.Errorf("Day-of-week %q: L needs a single day before it (e.g. 6L, the last Friday): %w", s, err)
		}
		c.lastOf = n
	case strings.Contains(u, "#"):
		d, k, _ := strings.Cut(u, "#")
		n, err := fDoW.value(d)
		if err != nil {
			return fmt.Errorf("Day-of-week %q: # takes one day and one week number (e.g. 3#2, the second Tuesday): %w", s, err)
		}
		w, err := strconv.Atoi(k)
		if err != nil || w < 1 || w > 5 {
			return fmt.Errorf("Day-of-week %q: the number after # must be 1-5 (e.g. 3#2, the second Tuesday)", s)
		}
		c.nthDay, c.nth = n, w
	default:
		set, err := fDoW.parse(s)
		if err != nil {
			return err
		}
		c.weekday = set
	}
	return nil
}

// parse parses a comma list of terms into a bitset.
func (f field) parse(s string) (uint64, error) {
	var set uint64
	for term := range strings.SplitSeq(s, ",") {
		lo, hi, step, err := f.term(term)
		if err != nil {
			return 0, err
		}
		if lo <= hi {
			for v := lo; v <= hi; v += step {
				set |= 1 << v
			}
			continue
		}
		// A range that wraps (FRI-MON, 22-2): lo..max then min..hi.
		n := f.max - f.min + 1
		for i := 0; i <= hi-lo+n; i += step {
			set |= 1 << (f.min + (lo-f.min+i)%n)
		}
	}
	return set, nil
}

// term parses one of *, v, a-b, */s, v/s, a-b/s.
func (f field) term(t string) (lo, hi, step int, err error) {
	if t == "" {
		return 0, 0, 0, fmt.Errorf("%s: empty list item", f.name)
	}
	step = 1
	rng := t
	if r, s, ok := strings.Cut(t, "/"); ok {
		if !f.step {
			return 0, 0, 0, fmt.Errorf("%s %q: / is not allowed in this field", f.name, t)
		}
		step, err = strconv.Atoi(s)
		if err != nil || step < 1 || step > f.max-f.min+1 {
			return 0, 0, 0, fmt.Errorf("%s %q: the increment after / must be 1-%d", f.name, t, f.max-f.min+1)
		}
		rng = r
	}
	switch {
	case rng == "*":
		return f.min, f.max, step, nil
	case strings.Contains(rng, "-"):
		a, b, _ := strings.Cut(rng, "-")
		if lo, err = f.value(a); err != nil {
			return 0, 0, 0, fmt.Errorf("%s %q: %w", f.name, t, err)
		}
		if hi, err = f.value(b); err != nil {
			return 0, 0, 0, fmt.Errorf("%s %q: %w", f.name, t, err)
		}
		if lo > hi && f.name == fYear.name {
			return 0, 0, 0, fmt.Errorf("%s %q: the range runs backwards", f.name, t)
		}
		return lo, hi, step, nil
	}
	if lo, err = f.value(rng); err != nil {
		return 0, 0, 0, fmt.Errorf("%s %q: %w", f.name, t, err)
	}
	if step > 1 || strings.Contains(t, "/") {
		return lo, f.max, step, nil // v/s: from v to the end
	}
	return lo, lo, 1, nil
}

// value parses a number or a name in the field's range.
func (f field) value(s string) (int, error) {
	if v, ok := f.names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < f.min || n > f.max {
		if f.names != nil {
			return 0, fmt.Errorf("%q is not %d-%d or a name (%s)", s, f.min, f.max, namesOf(f.names))
		}
		return 0, fmt.Errorf("%q is not %d-%d", s, f.min, f.max)
	}
	return n, nil
}

func namesOf(m map[string]int) string {
	out := make([]string, len(m)+1)
	for k, v := range m {
		out[v] = k
	}
	return strings.Join(out[1:], ",")
}

func has(set uint64, v int) bool { return set&(1<<v) != 0 }

func (c *cronSpec) year(y int) bool {
	if y < minYear || y > maxYear {
		return false
	}
	i := y - minYear
	return c.years[i/64]&(1<<(i%64)) != 0
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// day reports whether the cron matches a calendar day.
func (c *cronSpec) day(y int, m time.Month, d int) bool {
	last := daysIn(y, m)
	if c.dowAny {
		switch {
		case c.lastDay:
			return d == last
		case c.lastWeekday:
			return d == nearest(y, m, last, last)
		case c.nearestWeekday > 0:
			return c.nearestWeekday <= last && d == nearest(y, m, c.nearestWeekday, last)
		}
		return has(c.days, d)
	}
	dow := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()) + 1
	switch {
	case c.lastOf > 0:
		return dow == c.lastOf && d+7 > last
	case c.nthDay > 0:
		return dow == c.nthDay && (d-1)/7+1 == c.nth
	}
	return has(c.weekday, dow)
}

// nearest is the weekday closest to day n that stays in the month.
func nearest(y int, m time.Month, n, last int) int {
	switch time.Date(y, m, n, 0, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

// next is the first matching minute strictly after t, in t's location.
func (c *cronSpec) next(t time.Time) time.Time {
	loc := t.Location()
	y, mo, d := t.Date()
	t = time.Date(y, mo, d, t.Hour(), t.Minute(), 0, 0, loc).Add(time.Minute)
	// Each step moves t forward by at least a minute and skips whole years,
	// months, days and hours that cannot match, so this bound is never
	// reached by a valid expression before maxYear.
	for range 1_000_000 {
		y, mo, d := t.Date()
		h, mi := t.Hour(), t.Minute()
		var nt time.Time
		switch {
		case y > maxYear:
			return time.Time{}
		case !c.year(y):
			nt = time.Date(y+1, 1, 1, 0, 0, 0, 0, loc)
		case !has(c.months, int(mo)):
			nt = time.Date(y, mo+1, 1, 0, 0, 0, 0, loc)
		case !c.day(y, mo, d):
			nt = time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
		case !has(c.hours, h):
			nt = time.Date(y, mo, d, h+1, 0, 0, 0, loc)
		default:
			rest := c.minutes >> mi
			if rest&1 != 0 {
				return t
			}
			if rest == 0 {
				nt = time.Date(y, mo, d, h+1, 0, 0, 0, loc)
			} else {
				// Absolute add: stays right inside a repeated DST hour.
				nt = t.Add(time.Duration(bits.TrailingZeros64(rest)) * time.Minute)
			}
		}
		if !nt.After(t) {
			nt = t.Add(time.Minute)
		}
		t = nt
	}
	return time.Time{}
}
