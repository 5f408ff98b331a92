package rie

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// memoryMeter reports "Max Memory Used" for REPORT lines: the peak memory
// of the container's cgroup when esb-rie runs as a container's init (what
// AWS measures: the whole execution environment), else the runtime
// process's peak resident set (VmHWM).
type memoryMeter struct {
	cgroup   *os.File // memory.peak (v2), memory.current (v2) or memory.max_usage_in_bytes (v1)
	isPeak   bool     // cgroup file reports a peak rather than current usage
	procRoot string   // "/proc", for process mode
	procPID  int
	procFile *os.File
	procRead time.Time // last VmHWM read
	now      func() time.Time
	maxBytes int64
	buf      [4096]byte
}

// newMemoryMeter picks the cgroup file when useCgroup is set and one is
// found under root ("/" in production), else process mode.
func newMemoryMeter(root string, useCgroup bool) *memoryMeter {
	m := &memoryMeter{procRoot: filepath.Join(root, "proc"), now: time.Now}
	if useCgroup {
		m.cgroup, m.isPeak = openCgroupMemory(root)
	}
	return m
}

// source names where the figure comes from, for diagnostics.
func (m *memoryMeter) source() string {
	if m.cgroup != nil {
		return "cgroup " + m.cgroup.Name()
	}
	return "process VmHWM"
}

// openCgroupMemory finds this process's memory cgroup accounting file,
// v2 first, then v1.
func openCgroupMemory(root string) (*os.File, bool) {
	data, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return nil, false
	}
	var v2Path, v1Path string
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1Path = parts[2]
			}
		}
	}
	type candidate struct {
		path string
		peak bool
	}
	var cands []candidate
	if v2Path != "" {
		for _, dir := range []string{filepath.Join(root, "sys/fs/cgroup", v2Path), filepath.Join(root, "sys/fs/cgroup")} {
			cands = append(cands, candidate{filepath.Join(dir, "memory.peak"), true}, candidate{filepath.Join(dir, "memory.current"), false})
		}
	}
	if v1Path != "" {
		for _, dir := range []string{filepath.Join(root, "sys/fs/cgroup/memory", v1Path), filepath.Join(root, "sys/fs/cgroup/memory")} {
			cands = append(cands, candidate{filepath.Join(dir, "memory.max_usage_in_bytes"), true})
		}
	}
	for _, c := range cands {
		f, err := os.Open(c.path)
		if err != nil {
			continue
		}
		var b [64]byte
		n, err := f.ReadAt(b[:], 0)
		if n == 0 && err != nil {
			f.Close()
			continue
		}
		if _, err := strconv.ParseInt(string(bytes.TrimSpace(b[:n])), 10, 64); err != nil {
			f.Close()
			continue
		}
		return f, c.peak
	}
	return nil, false
}

// maxUsedMB returns the peak so far in MB (rounded up), reading the cgroup
// or the runtime process: its VmHWM while it runs, the peak RSS its exit
// status reported after (nil: keep the last figure).
func (m *memoryMeter) maxUsedMB(p process) int {
	var cur int64
	switch {
	case m.cgroup != nil:
		n, _ := m.cgroup.ReadAt(m.buf[:64], 0)
		cur = parseUint(m.buf[:n])
	case p == nil:
	case isDone(p):
		cur = p.PeakRSS()
	case p.Pid() > 0:
		cur = m.processHWM(p.Pid())
	}
	m.maxBytes = max(m.maxBytes, cur)
	return int((m.maxBytes + (1<<20 - 1)) >> 20)
}

func isDone(p process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// procReadInterval spaces VmHWM reads: the kernel formats the whole status
// file for each (~15 µs), too much to pay on every warm invoke. The figure
// is a peak, so a reading up to this old is still a lower bound.
const procReadInterval = 250 * time.Millisecond

// processHWM reads VmHWM (kB) from /proc/<pid>/status, keeping the file open
// across invokes of the same process.
func (m *memoryMeter) processHWM(pid int) int64 {
	now := m.now()
	if m.procPID == pid && m.procFile != nil && now.Sub(m.procRead) < procReadInterval {
		return 0 // keep the last figure
	}
	m.procRead = now
	if m.procPID != pid || m.procFile == nil {
		if m.procFile != nil {
			m.procFile.Close()
			m.procFile = nil
		}
		f, err := os.Open(filepath.Join(m.procRoot, strconv.Itoa(pid), "status"))
		if err != nil {
			return 0
		}
		m.procFile, m.procPID = f, pid
	}
	n, _ := m.procFile.ReadAt(m.buf[:], 0)
	return parseVmHWM(m.buf[:n])
}

// parseVmHWM returns VmHWM in bytes from /proc/<pid>/status text.
func parseVmHWM(status []byte) int64 {
	i := bytes.Index(status, []byte("VmHWM:"))
	if i < 0 {
		return 0
	}
	return parseUint(status[i+len("VmHWM:"):]) << 10
}

// parseUint reads the first run of decimal digits after optional blanks
// (0 if there is none), without allocating.
func parseUint(b []byte) int64 {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	var v int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	return v
}

// close releases the open files.
func (m *memoryMeter) close() {
	if m.cgroup != nil {
		m.cgroup.Close()
	}
	if m.procFile != nil {
		m.procFile.Close()
	}
}
