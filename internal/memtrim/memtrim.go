// Package memtrim releases the pages of the esb executable that a daemon touched
// while starting and will not need again.
//
// Every esb daemon is the same large binary. When the kernel faults a page of it
// in, it reads ahead (up to the block device's read_ahead_kb, 8 MiB on some
// virtual disks) and maps what it read, so a daemon that ran a few init functions
// can show most of the binary as resident. After start-up a daemon calls Release:
// the executable's read-only mappings are marked MADV_RANDOM (no more readahead on
// later faults) and MADV_PAGEOUT (unmapped from this process; the page cache keeps
// them while memory allows). The pages the daemon really uses fault back in one
// at a time; its resident set becomes its working set.
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
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("release executable pages: %w", err)
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lo, hi, ok := readOnlyMappingOf(sc.Text(), exe)
		if !ok {
			continue
		}
		for _, advice := range []uintptr{syscall.MADV_RANDOM, madvPageout} {
			// The range comes from the kernel's own map of this process and is
			// passed by address, never dereferenced.
			if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, advice); errno != 0 {
				return total, fmt.Errorf("release executable pages: madvise(%#x, %d, %d): %w", lo, hi-lo, advice, errno)
			}
		}
		total += int64(hi - lo)
	}
	if err := sc.Err(); err != nil {
		return total, fmt.Errorf("release executable pages: read maps: %w", err)
	}
	return total, nil
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
