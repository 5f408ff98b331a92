package lifecycle

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkExpirerPass measures one expirer pass over 10,000 objects of which
// none is due (the common hourly case), against the baseline of listing the
// same objects with no rule logic, and reports the ratio.
func BenchmarkExpirerPass(b *testing.B) {
	day0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := newMemStore()
	m.cfg["b"] = &Configuration{Rules: []Rule{
		{ID: "logs", Status: "Enabled", Filter: &Filter{Prefix: strp("")}, Expiration: &Expiration{Days: intp(30)}},
		{ID: "big", Status: "Enabled", Filter: &Filter{And: &And{Prefix: strp("d"), ObjectSizeGreaterThan: i64p(100)}}, Expiration: &Expiration{Days: intp(30)}},
	}}
	for i := 0; i < 10000; i++ {
		m.put("b", fmt.Sprintf("d%02d/obj-%05d", i%100, i), day0, int64(i))
	}
	c := &clock{day0.Add(24 * time.Hour)}
	m.clock = c
	e := &Expirer{Store: m, Clock: c}
	ctx := context.Background()

	var base, pass time.Duration
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		n := 0
		_ = m.ListObjects(ctx, "b", "", func(Object) error { n++; return nil })
		_ = m.ListObjects(ctx, "b", "d", func(Object) error { n++; return nil })
		base += time.Since(t0)
		t0 = time.Now()
		res, err := e.RunOnce(ctx)
		pass += time.Since(t0)
		if err != nil || res.Expired != 0 {
			b.Fatalf("pass: %+v %v", res, err)
		}
	}
	b.ReportMetric(float64(pass)/float64(base), "x_listing_baseline")
}
