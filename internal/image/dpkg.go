package image

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Package is an installed Debian package.
type Package struct {
	Name    string
	Version string
	Arch    string
	// Depends holds Depends and Pre-Depends: each element is a list of
	// alternatives (a | b), names without version or architecture.
	Depends  [][]string
	Provides []string
}

// Dpkg is the host's package database (/var/lib/dpkg).
type Dpkg struct {
	// AdminDir is dpkg's database directory.
	AdminDir string
	// NativeArch is the host's dpkg architecture (amd64, arm64).
	NativeArch string

	pkgs     map[string][]*Package // name → installed packages (one per architecture)
	provides map[string][]*Package // virtual name → providers
}

// ReadDpkg reads the installed packages from adminDir/status.
func ReadDpkg(adminDir, nativeArch string) (*Dpkg, error) {
	data, err := os.ReadFile(filepath.Join(adminDir, "status"))
	if err != nil {
		return nil, fmt.Errorf("read the Debian package database: %w (esb base build needs a Debian or Ubuntu host)", err)
	}
	d := &Dpkg{AdminDir: adminDir, NativeArch: nativeArch, pkgs: map[string][]*Package{}, provides: map[string][]*Package{}}
	for _, para := range bytes.Split(data, []byte("\n\n")) {
		f := parseControl(para)
		if f["Package"] == "" || !strings.HasSuffix(f["Status"], " installed") {
			continue
		}
		p := &Package{Name: f["Package"], Version: f["Version"], Arch: f["Architecture"]}
		p.Depends = append(parseDepends(f["Pre-Depends"]), parseDepends(f["Depends"])...)
		for _, alt := range parseDepends(f["Provides"]) {
			p.Provides = append(p.Provides, alt...)
		}
		d.pkgs[p.Name] = append(d.pkgs[p.Name], p)
		for _, v := range p.Provides {
			d.provides[v] = append(d.provides[v], p)
		}
	}
	return d, nil
}

// parseControl parses one deb822 paragraph (continuation lines folded).
func parseControl(para []byte) map[string]string {
	f := map[string]string{}
	var key string
	sc := bufio.NewScanner(bytes.NewReader(para))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if key != "" {
				f[key] += " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = k
		f[k] = strings.TrimSpace(v)
	}
	return f
}

// parseDepends parses "a (>= 1) | b:any, c" into [[a b] [c]].
func parseDepends(s string) [][]string {
	var out [][]string
	for _, clause := range strings.Split(s, ",") {
		var alts []string
		for _, alt := range strings.Split(clause, "|") {
			alt = strings.TrimSpace(alt)
			if i := strings.IndexAny(alt, " (["); i >= 0 {
				alt = alt[:i]
			}
			alt, _, _ = strings.Cut(alt, ":")
			if alt != "" {
				alts = append(alts, alt)
			}
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}

// Installed returns the installed package name (native or Architecture all
// preferred), or nil.
func (d *Dpkg) Installed(name string) *Package {
	ps := d.pkgs[name]
	for _, p := range ps {
		if p.Arch == d.NativeArch || p.Arch == "all" {
			return p
		}
	}
	if len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// resolve picks the installed package satisfying one alternative name,
// directly or through Provides.
func (d *Dpkg) resolve(name string) *Package {
	if p := d.Installed(name); p != nil {
		return p
	}
	if ps := d.provides[name]; len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// Closure returns roots and everything they depend on, transitively, in name
// order. Packages named in exclude (and dependencies reachable only through
// them) are left out. A dependency with no installed alternative is skipped,
// as dpkg would have refused a broken install.
func (d *Dpkg) Closure(roots []string, exclude map[string]bool) ([]*Package, error) {
	seen := map[*Package]bool{}
	var queue []*Package
	for _, r := range roots {
		p := d.Installed(r)
		if p == nil {
			return nil, fmt.Errorf("package %s is not installed", r)
		}
		if !seen[p] {
			seen[p] = true
			queue = append(queue, p)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, alts := range p.Depends {
			var dep *Package
			skip := false
			for _, a := range alts {
				if exclude[a] {
					skip = true
					break
				}
				if dep = d.resolve(a); dep != nil {
					break
				}
			}
			if skip || dep == nil || exclude[dep.Name] || seen[dep] {
				continue
			}
			seen[dep] = true
			queue = append(queue, dep)
		}
	}
	out := make([]*Package, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Files lists the paths dpkg installed for p (what `dpkg -L` prints).
func (d *Dpkg) Files(p *Package) ([]string, error) {
	var data []byte
	var err error
	for _, name := range []string{p.Name + ":" + p.Arch, p.Name} {
		data, err = os.ReadFile(filepath.Join(d.AdminDir, "info", name+".list"))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list files of package %s: %w", p.Name, err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "/." {
			out = append(out, l)
		}
	}
	return out, nil
}
