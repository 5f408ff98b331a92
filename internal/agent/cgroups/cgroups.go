// Package cgroups reads a process's resource usage from its cgroup files,
// on cgroup v1 (including the hybrid layout) and cgroup v2.
package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats is a cgroup's resource usage.
type Stats struct {
	MemoryCurrentBytes uint64
	// MemoryMaxBytes is the hard limit; 0 when unlimited.
	MemoryMaxBytes uint64
	OOMEvents      uint64
	CPUUsageNs     uint64
}

// Reader finds cgroups through /proc and the cgroup mounts.
type Reader struct {
	// Proc is the proc file system's root ("/proc").
	Proc string
	// v1 maps a v1 controller name to its mount point; unified is the v2 mount.
	v1      map[string]string
	unified string
}

// NewReader reads the cgroup mounts from procRoot/self/mountinfo.
func NewReader(procRoot string) (*Reader, error) {
	f, err := os.Open(filepath.Join(procRoot, "self", "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup mounts: %w", err)
	}
	defer f.Close()
	r := &Reader{Proc: procRoot, v1: map[string]string{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		r.parseMount(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cgroup mounts: %w", err)
	}
	if len(r.v1) == 0 && r.unified == "" {
		return nil, errors.New("no cgroup file system is mounted")
	}
	return r, nil
}

// parseMount records one mountinfo line if it is a cgroup mount:
// "36 35 0:30 / /sys/fs/cgroup/memory rw,... shared:16 - cgroup cgroup rw,memory".
func (r *Reader) parseMount(line string) {
	sep := strings.Index(line, " - ")
	if sep < 0 {
		return
	}
	pre, post := strings.Fields(line[:sep]), strings.Fields(line[sep+3:])
	if len(pre) < 5 || len(post) < 3 {
		return
	}
	mnt := pre[4]
	switch post[0] {
	case "cgroup2":
		if r.unified == "" {
			r.unified = mnt
		}
	case "cgroup":
		for _, opt := range strings.Split(post[2], ",") {
			switch opt {
			case "memory", "cpuacct", "cpu", "freezer", "pids":
				if _, ok := r.v1[opt]; !ok {
					r.v1[opt] = mnt
				}
			}
		}
	}
}

// Pid reads the stats of the cgroup pid lives in.
func (r *Reader) Pid(pid int) (Stats, error) {
	if pid <= 0 {
		return Stats{}, fmt.Errorf("no process to read cgroup stats of (pid %d)", pid)
	}
	data, err := os.ReadFile(filepath.Join(r.Proc, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return Stats{}, fmt.Errorf("read cgroup of pid %d: %w", pid, err)
	}
	paths := parseProcCgroup(data)
	var st Stats
	if p, ok := paths["memory"]; ok && r.v1["memory"] != "" {
		dir := filepath.Join(r.v1["memory"], p)
		if st.MemoryCurrentBytes, err = readUint(dir, "memory.usage_in_bytes"); err != nil {
			return Stats{}, err
		}
		if st.MemoryMaxBytes, err = readUint(dir, "memory.limit_in_bytes"); err != nil {
			return Stats{}, err
		}
		if st.MemoryMaxBytes >= 1<<62 { // "unlimited" is a huge page-rounded number
			st.MemoryMaxBytes = 0
		}
		st.OOMEvents, _ = readKey(dir, "memory.oom_control", "oom_kill")
		if cp, ok := paths["cpuacct"]; ok && r.v1["cpuacct"] != "" {
			st.CPUUsageNs, _ = readUint(filepath.Join(r.v1["cpuacct"], cp), "cpuacct.usage")
		}
		return st, nil
	}
	p, ok := paths[""]
	if !ok || r.unified == "" {
		return Stats{}, fmt.Errorf("pid %d has no memory cgroup", pid)
	}
	dir := filepath.Join(r.unified, p)
	if st.MemoryCurrentBytes, err = readUint(dir, "memory.current"); err != nil {
		return Stats{}, err
	}
	st.MemoryMaxBytes, _ = readUint(dir, "memory.max") // "max" = unlimited = 0
	st.OOMEvents, _ = readKey(dir, "memory.events", "oom_kill")
	if usec, err := readKey(dir, "cpu.stat", "usage_usec"); err == nil {
		st.CPUUsageNs = usec * 1000
	}
	return st, nil
}

// parseProcCgroup maps controller → path from /proc/<pid>/cgroup; the v2
// path is under the key "".
func parseProcCgroup(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		parts := bytes.SplitN(line, []byte{':'}, 3)
		if len(parts) != 3 {
			continue
		}
		path := string(parts[2])
		if len(parts[1]) == 0 {
			out[""] = path
			continue
		}
		for _, c := range strings.Split(string(parts[1]), ",") {
			out[c] = path
		}
	}
	return out
}

func readUint(dir, file string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, fmt.Errorf("read cgroup file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, file), err)
	}
	return v, nil
}

// readKey reads "key value" from a flat-keyed cgroup file.
func readKey(dir, file, key string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, fmt.Errorf("read cgroup file: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %s", filepath.Join(dir, file), key)
}
