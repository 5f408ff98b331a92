// Package memtrim releases the pages of the esb executable that a daemon touched
// while starting and will not need again.
//
// Every esb daemon is the same large binary. When the kernel faults a page of it
// in, it reads ahead (up to the block device's read_ahead_kb, 8 MiB on some
// virtual disks) and maps what it read, so a daemon that ran a few init functions
// can show most of the binary as resident. Kernels that cache files in large
// folios also map the executable's text in 2 MiB pieces, so one touched function
// brings in its whole neighbourhood. After start-up a daemon calls Release: the
// executable's read-only mappings are marked MADV_RANDOM (no more readahead on
// later faults), MADV_NOHUGEPAGE (map later faults a page at a time) and
// MADV_PAGEOUT (unmapped from this process; the page cache keeps them while
// memory allows). The pages the daemon really uses fault back in one at a time;
// its resident set becomes its working set.
package memtrim

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4+), not defined by package syscall.
const madvPageout = 21

// Release advises the kernel that the executable's read-only mappings are cold.
// It returns the number of bytes advised. Errors are not fatal for a daemon; the
// caller logs them.
func Release() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("release executable pages: %w", err)
	}
	// smaps, not maps: each mapping's Anonymous count says whether it holds
	// copied-on-write pages, which only MADV_PAGEOUT may touch.
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("release executable pages: %w", err)
	}
	var total int64
	for _, m := range exeMappings(string(data), exe) {
		advice := []uintptr{syscall.MADV_RANDOM, syscall.MADV_NOHUGEPAGE, madvPageout}
		// MADV_PAGEOUT skips pages another process maps too, which is
		// nearly every page when all daemons run one binary. MADV_DONTNEED
		// unmaps them from this process, leaving them to the page cache;
		// only for clean file pages (it would drop a written page's content).
		if m.anonKB == 0 {
			advice = append(advice, syscall.MADV_DONTNEED)
		}
		for _, a := range advice {
			// The range comes from the kernel's own map of this process and is
			// passed by address, never dereferenced.
			_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.lo, m.hi-m.lo, a)
			if errno == syscall.EINVAL && a == syscall.MADV_NOHUGEPAGE {
				continue // a kernel built without transparent huge pages
			}
			if errno != 0 {
				return total, fmt.Errorf("release executable pages: madvise(%#x, %d, %d): %w", m.lo, m.hi-m.lo, a, errno)
			}
		}
		total += int64(m.hi - m.lo)
	}
	return total, nil
}

// mapping is one read-only mapping of the executable.
type mapping struct {
	lo, hi uintptr
	anonKB int
}

// exeMappings parses /proc/self/smaps and returns the read-only mappings of
// path with their Anonymous size. A mapping without an Anonymous line counts
// as holding anonymous pages (never unmapped).
func exeMappings(smaps, path string) []mapping {
	var out []mapping
	cur := -1
	sc := bufio.NewScanner(strings.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := readOnlyMappingOf(line, path); ok {
			out = append(out, mapping{lo: lo, hi: hi, anonKB: -1})
			cur = len(out) - 1
			continue
		}
		if v, ok := strings.CutPrefix(line, "Anonymous:"); ok && cur >= 0 {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err == nil {
				out[cur].anonKB = n
			}
			continue
		}
		// Any other mapping's header ends the current one.
		if f := strings.Fields(line); len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			cur = -1
		}
	}
	return out
}

// readOnlyMappingOf parses one /proc/self/maps line and reports the address range
// when it maps path without write permission.
func readOnlyMappingOf(line, path string) (lo, hi uintptr, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[5] != path || strings.Contains(fields[1], "w") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(fields[0], "-")
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(a, 16, 64)
	h, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil || h <= l {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}
