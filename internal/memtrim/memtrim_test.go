package memtrim

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadOnlyMappingOf(t *testing.T) {
	const exe = "/usr/local/bin/esb"
	cases := []struct {
		line   string
		ok     bool
		lo, hi uintptr
	}{
		{"00400000-01d45000 r-xp 00000000 fe:00 10021314   /usr/local/bin/esb", true, 0x400000, 0x1d45000},
		{"01d45000-0386a000 r--p 01945000 fe:00 10021314   /usr/local/bin/esb", true, 0x1d45000, 0x386a000},
		{"0386a000-039f9000 rw-p 0346a000 fe:00 10021314   /usr/local/bin/esb", false, 0, 0},
		{"7fe211b80000-7fe211f00000 rw-p 00000000 00:00 0", false, 0, 0},
		{"00400000-01d45000 r-xp 00000000 fe:00 1   /usr/bin/other", false, 0, 0},
		{"garbage", false, 0, 0},
	}
	for _, c := range cases {
		lo, hi, ok := readOnlyMappingOf(c.line, exe)
		if ok != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("%q: got %#x-%#x %v, want %#x-%#x %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

func vmRSS(t *testing.T) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Skip("no VmRSS")
	return 0
}

func TestReleaseShrinksResidentSet(t *testing.T) {
	before := vmRSS(t)
	n, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no read-only mapping of the test binary found")
	}
	after := vmRSS(t)
	if after >= before {
		t.Errorf("VmRSS %d kB before, %d kB after releasing %d bytes; want it smaller", before, after, n)
	}
	t.Logf("VmRSS %d kB → %d kB", before, after)
}

func TestExeMappingsReadsAnonymousPerMapping(t *testing.T) {
	const exe = "/usr/local/bin/esb"
	smaps := `00400000-01132000 r--p 00000000 fe:00 9978074                            /usr/local/bin/esb
Size:              13512 kB
Anonymous:             0 kB
VmFlags: rd mr mw me dw sd
01132000-02ebd000 r-xp 00d32000 fe:00 9978074                            /usr/local/bin/esb
Size:              30252 kB
Anonymous:             0 kB
04e50000-04e51000 r--p 04a50000 fe:00 9978074                            /usr/local/bin/esb
Size:                  4 kB
Anonymous:             4 kB
04e51000-04fe6000 rw-p 04a51000 fe:00 9978074                            /usr/local/bin/esb
Anonymous:           600 kB
7fe211b80000-7fe211f00000 rw-p 00000000 00:00 0
Anonymous:          3584 kB
`
	got := exeMappings(smaps, exe)
	want := []mapping{{0x400000, 0x1132000, 0}, {0x1132000, 0x2ebd000, 0}, {0x4e50000, 0x4e51000, 4}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// After Release, the executable's read-only mappings fault back a page at a
// time, never in 2 MiB pieces (kernels that cache the binary in large folios
// map those whole): their VmFlags carry nh (MADV_NOHUGEPAGE).
func TestReleasedTextIsNotRemappedInHugePages(t *testing.T) {
	if _, err := Release(); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if _, _, ok := readOnlyMappingOf(line, exe); ok {
			in = true
			continue
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			in = false
			checked++
			if !strings.Contains(" "+v+" ", " nh ") {
				t.Errorf("read-only mapping of the executable without nh: VmFlags:%s", v)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no read-only mapping of the test binary found")
	}
}

func TestIdleDetectorTrimsOncePerIdlePeriod(t *testing.T) {
	d := idleDetector{quiet: 3 * time.Second, maxCPU: 5 * time.Millisecond}
	sec := time.Second
	steps := []struct {
		used time.Duration
		want bool
	}{
		{50 * time.Millisecond, false}, // busy
		{time.Millisecond, false},      // idle 1 s
		{time.Millisecond, false},      // idle 2 s
		{2 * time.Millisecond, true},   // idle 3 s: trim
		{0, false},                     // still idle: trimmed already
		{0, false},
		{20 * time.Millisecond, false}, // a burst
		{0, false},
		{0, false},
		{0, true}, // idle again for 3 s: trim again
	}
	for i, s := range steps {
		if got := d.observe(s.used, sec); got != s.want {
			t.Fatalf("step %d (used %v): trim %v, want %v", i, s.used, got, s.want)
		}
	}
}

func TestTrimWhenIdleTrims(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan int64, 1)
	go TrimWhenIdle(ctx, IdleConfig{Quiet: 30 * time.Millisecond, Every: 10 * time.Millisecond, MaxCPU: 900 * time.Millisecond,
		OnTrim: func(n int64, err error) {
			if err != nil {
				t.Error(err)
			}
			select {
			case done <- n:
			default:
			}
		}})
	select {
	case n := <-done:
		if n == 0 {
			t.Error("the trim released nothing")
		}
	case <-ctx.Done():
		t.Fatal("no trim within 5 s of an idle process")
	}
}
