package cgroups

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupV1Hybrid(t *testing.T) {
	root := t.TempDir()
	proc, fs := filepath.Join(root, "proc"), filepath.Join(root, "sys")
	write(t, filepath.Join(proc, "self", "mountinfo"),
		"30 25 0:26 / "+fs+"/memory rw,nosuid shared:9 - cgroup cgroup rw,memory\n"+
			"31 25 0:27 / "+fs+"/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct\n"+
			"32 25 0:28 / "+fs+"/unified rw,nosuid shared:11 - cgroup2 cgroup2 rw\n"+
			"33 25 0:29 / /proc rw - proc proc rw\n")
	write(t, filepath.Join(proc, "42", "cgroup"), "12:memory:/esb/w1\n4:cpu,cpuacct:/esb/w1\n0::/esb/w1\n")
	dir := filepath.Join(fs, "memory", "esb", "w1")
	write(t, filepath.Join(dir, "memory.usage_in_bytes"), "5242880\n")
	write(t, filepath.Join(dir, "memory.limit_in_bytes"), "134217728\n")
	write(t, filepath.Join(dir, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
	write(t, filepath.Join(fs, "cpu,cpuacct", "esb", "w1", "cpuacct.usage"), "123456789\n")
	r, err := NewReader(proc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Pid(42)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{MemoryCurrentBytes: 5242880, MemoryMaxBytes: 128 << 20, OOMEvents: 2, CPUUsageNs: 123456789}) {
		t.Fatalf("stats %+v", st)
	}
	write(t, filepath.Join(dir, "memory.limit_in_bytes"), "9223372036854771712\n")
	if st, _ := r.Pid(42); st.MemoryMaxBytes != 0 {
		t.Fatalf("unlimited read as %d", st.MemoryMaxBytes)
	}
	if _, err := r.Pid(43); err == nil {
		t.Fatal("a missing process gave no error")
	}
}

func TestCgroupV2(t *testing.T) {
	root := t.TempDir()
	proc, fs := filepath.Join(root, "proc"), filepath.Join(root, "sys")
	write(t, filepath.Join(proc, "self", "mountinfo"), "30 25 0:26 / "+fs+" rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n")
	write(t, filepath.Join(proc, "7", "cgroup"), "0::/esb/w2\n")
	dir := filepath.Join(fs, "esb", "w2")
	write(t, filepath.Join(dir, "memory.current"), "1048576\n")
	write(t, filepath.Join(dir, "memory.max"), "268435456\n")
	write(t, filepath.Join(dir, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
	write(t, filepath.Join(dir, "cpu.stat"), "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
	r, err := NewReader(proc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Pid(7)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{MemoryCurrentBytes: 1 << 20, MemoryMaxBytes: 256 << 20, OOMEvents: 1, CPUUsageNs: 2500000}) {
		t.Fatalf("stats %+v", st)
	}
	write(t, filepath.Join(dir, "memory.max"), "max\n")
	if st, _ := r.Pid(7); st.MemoryMaxBytes != 0 {
		t.Fatalf("max read as %d", st.MemoryMaxBytes)
	}
}

func TestThisHost(t *testing.T) {
	r, err := NewReader("/proc")
	if err != nil {
		t.Skip("no cgroups here:", err)
	}
	st, err := r.Pid(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryCurrentBytes == 0 {
		t.Fatalf("own memory usage read as 0: %+v", st)
	}
}
