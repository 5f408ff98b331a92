package rie

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryMeterCgroupV2(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "proc/self/cgroup"), "0::/\n")
	writeFile(t, filepath.Join(root, "sys/fs/cgroup/memory.peak"), "52428800\n")
	writeFile(t, filepath.Join(root, "sys/fs/cgroup/memory.current"), "1\n")
	m := newMemoryMeter(root, true)
	defer m.close()
	if got := m.maxUsedMB(nil); got != 50 {
		t.Fatalf("v2 peak: %d MB, want 50", got)
	}
}

func TestMemoryMeterCgroupV2CurrentOnly(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "proc/self/cgroup"), "0::/system.slice/fn\n")
	cur := filepath.Join(root, "sys/fs/cgroup/system.slice/fn/memory.current")
	writeFile(t, cur, strconv.Itoa(30<<20)+"\n")
	m := newMemoryMeter(root, true)
	defer m.close()
	if got := m.maxUsedMB(nil); got != 30 {
		t.Fatalf("%d", got)
	}
	// Without memory.peak the meter keeps the highest reading itself.
	writeFile(t, cur, strconv.Itoa(10<<20)+"\n")
	if got := m.maxUsedMB(nil); got != 30 {
		t.Fatalf("peak dropped to %d", got)
	}
}

func TestMemoryMeterCgroupV1(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "proc/self/cgroup"), "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
	// In a container the v1 hierarchy is mounted at the container's cgroup.
	writeFile(t, filepath.Join(root, "sys/fs/cgroup/memory/memory.max_usage_in_bytes"), strconv.Itoa(64<<20+1)+"\n")
	m := newMemoryMeter(root, true)
	defer m.close()
	if got := m.maxUsedMB(nil); got != 65 {
		t.Fatalf("v1: %d MB, want 65 (rounded up)", got)
	}
}

func TestMemoryMeterProcess(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "proc/123/status"), "Name:\tpython3\nVmPeak:\t  99999 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 100 kB\n")
	m := newMemoryMeter(root, false)
	defer m.close()
	if got := m.maxUsedMB(pidProc(123)); got != 20 {
		t.Fatalf("%d MB, want 20", got)
	}
	if got := m.maxUsedMB(nil); got != 20 {
		t.Fatalf("no process: %d, want the last figure", got)
	}
	// The real /proc works too.
	real := newMemoryMeter("/", false)
	defer real.close()
	if got := real.maxUsedMB(pidProc(os.Getpid())); got <= 0 {
		t.Fatalf("own VmHWM: %d", got)
	}
}

func TestParseUint(t *testing.T) {
	for in, want := range map[string]int64{"  42 kB": 42, "\t7\n": 7, "": 0, "x": 0, "123456789012": 123456789012} {
		if got := parseUint([]byte(in)); got != want {
			t.Errorf("parseUint(%q) = %d", in, got)
		}
	}
}

// pidProc is a running process known by its pid.
type pidProc int

func (p pidProc) Pid() int                  { return int(p) }
func (p pidProc) Done() <-chan struct{}     { return nil }
func (p pidProc) ExitReason() string        { return "" }
func (p pidProc) Signal(sig syscall.Signal) {}
func (p pidProc) PeakRSS() int64            { return 0 }
