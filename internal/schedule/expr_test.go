package schedule

import (
	"strings"
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02T15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	cases := []struct {
		expr, after, want string // want "" = no fire
	}{
		// rate: every period after the given time.
		{"rate(1 minute)", "2024-01-01T00:00:30", "2024-01-01T00:01:30"},
		{"rate(5 minutes)", "2024-01-01T00:00:00", "2024-01-01T00:05:00"},
		{"rate(1 hour)", "2024-02-28T23:30:00", "2024-02-29T00:30:00"},
		{"rate(2 days)", "2024-02-28T12:00:00", "2024-03-01T12:00:00"},
		// at: once.
		{"at(2030-01-31T09:30:00)", "2030-01-31T09:29:59", "2030-01-31T09:30:00"},
		{"at(2030-01-31T09:30:00)", "2030-01-31T09:30:00", ""},
		// plain fields, month and year ends.
		{"cron(0 12 * * ? *)", "2024-01-31T12:00:00", "2024-02-01T12:00:00"},
		{"cron(0 12 * * ? *)", "2024-01-31T11:59:59", "2024-01-31T12:00:00"},
		{"cron(* * * * ? *)", "2024-01-01T12:00:30", "2024-01-01T12:01:00"},
		{"cron(0 0 1 1 ? *)", "2024-12-31T23:59:00", "2025-01-01T00:00:00"},
		{"cron(0/15 * * * ? *)", "2024-01-01T12:07:00", "2024-01-01T12:15:00"},
		{"cron(0/15 * * * ? *)", "2024-01-01T12:45:00", "2024-01-01T13:00:00"},
		{"cron(1/10 * * * ? *)", "2024-01-01T12:01:00", "2024-01-01T12:11:00"},
		{"cron(*/20 * * * ? *)", "2024-01-01T12:41:00", "2024-01-01T13:00:00"},
		{"cron(5,35 14 * * ? *)", "2024-01-01T14:05:00", "2024-01-01T14:35:00"},
		{"cron(10-12/2 3 * * ? *)", "2024-01-01T03:10:00", "2024-01-01T03:12:00"},
		{"cron(0 0 31 * ? *)", "2024-04-01T00:00:00", "2024-05-31T00:00:00"},
		{"cron(0 0 30 2 ? *)", "2024-01-01T00:00:00", ""},
		{"cron(0 8 1 JAN,JUL ? 2025-2026)", "2024-03-01T00:00:00", "2025-01-01T08:00:00"},
		{"cron(0 8 1 JAN,JUL ? 2025-2026)", "2025-01-01T08:00:00", "2025-07-01T08:00:00"},
		{"cron(0 8 1 JAN,JUL ? 2025-2026)", "2026-07-01T08:00:00", ""},
		{"cron(0 0 1 * ? 2199)", "2199-12-01T00:00:00", ""},
		{"cron(0 0 1 jan ? *)", "2024-06-01T00:00:00", "2025-01-01T00:00:00"},
		// leap years.
		{"cron(0 0 29 2 ? *)", "2024-03-01T00:00:00", "2028-02-29T00:00:00"},
		{"cron(0 0 29 FEB ? *)", "2100-01-01T00:00:00", "2104-02-29T00:00:00"}, // 2100 is no leap year
		{"cron(0 0 L * ? *)", "2024-02-01T00:00:00", "2024-02-29T00:00:00"},
		{"cron(0 0 L * ? *)", "2023-02-01T00:00:00", "2023-02-28T00:00:00"},
		{"cron(0 0 L * ? *)", "2024-02-29T00:00:00", "2024-03-31T00:00:00"},
		// day of week: 1 = SUN … 7 = SAT; 2024-01-01 is a Monday.
		{"cron(0 18 ? * MON-FRI *)", "2024-01-05T18:00:00", "2024-01-08T18:00:00"},
		{"cron(0 18 ? * 2-6 *)", "2024-01-05T18:00:00", "2024-01-08T18:00:00"},
		{"cron(0 0 ? * 1 *)", "2024-01-01T00:00:00", "2024-01-07T00:00:00"},
		{"cron(0 0 ? * SUN,SAT *)", "2024-01-01T00:00:00", "2024-01-06T00:00:00"},
		{"cron(0 0 ? * L *)", "2024-01-01T00:00:00", "2024-01-06T00:00:00"},
		{"cron(0 0 ? * FRI-MON *)", "2024-01-02T00:00:00", "2024-01-05T00:00:00"},
		{"cron(0 0 ? * fri-mon *)", "2024-01-06T00:00:00", "2024-01-07T00:00:00"},
		{"cron(0 22-2 * * ? *)", "2024-01-01T02:00:00", "2024-01-01T22:00:00"},
		{"cron(0 22-2 * * ? *)", "2024-01-01T23:00:00", "2024-01-02T00:00:00"},
		// # : the n-th weekday of the month.
		{"cron(0 9 ? * 3#2 *)", "2024-01-01T00:00:00", "2024-01-09T09:00:00"},
		{"cron(0 9 ? * TUE#2 *)", "2024-01-09T09:00:00", "2024-02-13T09:00:00"},
		{"cron(0 9 ? * 2#5 *)", "2024-01-01T00:00:00", "2024-01-29T09:00:00"},
		{"cron(0 9 ? * 2#5 *)", "2024-01-29T09:00:00", "2024-04-29T09:00:00"}, // Feb, Mar have 4 Mondays
		// nL: the last n-day of the month.
		{"cron(0 10 ? * 6L *)", "2024-05-01T00:00:00", "2024-05-31T10:00:00"},
		{"cron(0 10 ? * FRIL *)", "2024-06-01T00:00:00", "2024-06-28T10:00:00"},
		{"cron(0 10 ? * 5L *)", "2024-02-01T00:00:00", "2024-02-29T10:00:00"},
		// W: the nearest weekday in the month.
		{"cron(0 9 15W * ? *)", "2024-06-01T00:00:00", "2024-06-14T09:00:00"}, // Sat 15 → Fri 14
		{"cron(0 9 15W * ? *)", "2024-09-01T00:00:00", "2024-09-16T09:00:00"}, // Sun 15 → Mon 16
		{"cron(0 9 15W * ? *)", "2024-01-01T00:00:00", "2024-01-15T09:00:00"}, // Mon
		{"cron(0 9 1W * ? *)", "2024-05-31T10:00:00", "2024-06-03T09:00:00"},  // Sat 1 → Mon 3
		{"cron(0 9 31W * ? *)", "2024-03-01T00:00:00", "2024-03-29T09:00:00"}, // Sun 31 → Fri 29
		{"cron(0 9 31W * ? *)", "2024-04-01T00:00:00", "2024-05-31T09:00:00"}, // April has no 31st
		{"cron(0 9 LW * ? *)", "2024-08-01T00:00:00", "2024-08-30T09:00:00"},  // Sat 31 → Fri 30
		{"cron(0 9 LW * ? *)", "2024-06-01T00:00:00", "2024-06-28T09:00:00"},  // Sun 30 → Fri 28
		{"cron(0 9 LW * ? *)", "2024-07-01T00:00:00", "2024-07-31T09:00:00"},  // Wed
		{"cron(0 9 1/10 * ? *)", "2024-01-11T09:00:00", "2024-01-21T09:00:00"},
		{"cron(0 9 1/10 * ? *)", "2024-01-31T09:00:00", "2024-02-01T09:00:00"},
	}
	for _, c := range cases {
		e, err := Parse(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		got := e.Next(ts(c.after))
		want := time.Time{}
		if c.want != "" {
			want = ts(c.want)
		}
		if !got.Equal(want) {
			t.Errorf("%s after %s = %v, want %v", c.expr, c.after, got, want)
		}
	}
}

func TestNextSequence(t *testing.T) {
	e, err := Parse("cron(30 1 ? * MON#1 *)")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2024-01-01T01:30:00", "2024-02-05T01:30:00", "2024-03-04T01:30:00", "2024-04-01T01:30:00"}
	at := ts("2023-12-31T00:00:00")
	for _, w := range want {
		at = e.Next(at)
		if !at.Equal(ts(w)) {
			t.Fatalf("got %v, want %s", at, w)
		}
	}
}

func TestTimezone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	e, err := ParseIn("cron(0 9 * * ? *)", ny)
	if err != nil {
		t.Fatal(err)
	}
	// Daylight saving time starts on 2024-03-10: 09:00 is 14:00Z before, 13:00Z after.
	if got := e.Next(ts("2024-03-09T00:00:00")).UTC(); !got.Equal(ts("2024-03-09T14:00:00")) {
		t.Errorf("before DST: %v", got)
	}
	if got := e.Next(ts("2024-03-09T15:00:00")).UTC(); !got.Equal(ts("2024-03-10T13:00:00")) {
		t.Errorf("after DST: %v", got)
	}
	// 02:30 does not exist on 2024-03-10 in New York; the schedule keeps going.
	e, _ = ParseIn("cron(30 2 * * ? *)", ny)
	got := e.Next(ts("2024-03-09T08:00:00")).UTC()
	if got.Before(ts("2024-03-10T06:00:00")) || got.After(ts("2024-03-11T07:30:00")) {
		t.Errorf("across the DST gap: %v", got)
	}
	a, err := ParseIn("at(2030-06-01T09:00:00)", ny)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Next(ts("2030-01-01T00:00:00")).UTC(); !got.Equal(ts("2030-06-01T13:00:00")) {
		t.Errorf("at in New York: %v", got)
	}
}

func TestParseInvalid(t *testing.T) {
	cases := map[string]string{
		"":                            "want rate",
		"every(5 minutes)":            "want rate(…)",
		"rate(0 minutes)":             "positive",
		"rate(-1 minutes)":            "positive",
		"rate(1.5 hours)":             "positive",
		"rate(1 minutes)":             "singular",
		"rate(5 minute)":              "plural",
		"rate(5 seconds)":             "minute(s), hour(s) or day(s)",
		"rate(minutes)":               "rate(value unit)",
		"rate(5 minutes":              "want rate",
		"cron(0 12 * * ? * *)":        "6 fields",
		"cron(0 12 * *)":              "6 fields",
		"cron(0 12 * * * *)":          "must be ?",
		"cron(0 12 ? * ? *)":          "only one",
		"cron(60 * * * ? *)":          "Minutes",
		"cron(0 24 * * ? *)":          "Hours",
		"cron(0 0 32 * ? *)":          "Day-of-month",
		"cron(0 0 0 * ? *)":           "Day-of-month",
		"cron(0 0 * 13 ? *)":          "Month",
		"cron(0 0 * FOO ? *)":         "JAN,FEB",
		"cron(0 0 ? * 8 *)":           "Day-of-week",
		"cron(0 0 ? * 0 *)":           "Day-of-week",
		"cron(0 0 ? * 1/2 *)":         "/ is not allowed",
		"cron(0 0 ? * 3#6 *)":         "1-5",
		"cron(0 0 ? * 3#2,6#3 *)":     "1-5",
		"cron(0 0 ? * 6L,2 *)":        "Day-of-week",
		"cron(0 0 W * ? *)":           "W needs",
		"cron(0 0 L-2 * ? *)":         "Day-of-month",
		"cron(0 0 * * ? 1969)":        "Year",
		"cron(0 0 * * ? 2200)":        "Year",
		"cron(0 0 * * ? 2026-2025)":   "backwards",
		"cron(0/0 * * * ? *)":         "increment",
		"cron(0 0 1,,2 * ? *)":        "empty",
		"at(2030-01-31 09:30:00)":     "yyyy-mm-ddThh:mm:ss",
		"at(2030-13-01T00:00:00)":     "yyyy-mm-ddThh:mm:ss",
		"cron(0 12 * * ? *) trailing": "want rate",
	}
	for expr, want := range cases {
		_, err := Parse(expr)
		if err == nil {
			t.Errorf("%q: no error", expr)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q does not mention %q", expr, err, want)
		}
	}
}

func BenchmarkNextCron(b *testing.B) {
	e, _ := Parse("cron(0 9 ? * 2#1 *)")
	at := ts("2024-01-01T00:00:00")
	b.ReportAllocs()
	for b.Loop() {
		at = e.Next(at)
		if at.Year() > 2190 {
			at = ts("2024-01-01T00:00:00")
		}
	}
}
