package image

import (
	"archive/tar"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const fakeStatus = `Package: python3
Status: install ok installed
Architecture: amd64
Version: 3.11.2-1+b1
Pre-Depends: python3-minimal (= 3.11.2-1+b1)
Depends: python3.11 (>= 3.11.2-1~), libpython3-stdlib (= 3.11.2-1+b1)

Package: python3-minimal
Status: install ok installed
Architecture: amd64
Version: 3.11.2-1+b1
Depends: dpkg (>= 1.13.20)

Package: python3.11
Status: install ok installed
Architecture: amd64
Version: 3.11.2-6
Depends: media-types | mime-support, libc6 (>= 2.34)

Package: libpython3-stdlib
Status: install ok installed
Architecture: amd64
Version: 3.11.2-1+b1
Depends: tzdata-virtual:any

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2025b
Provides: tzdata-virtual
Depends: debconf (>= 0.5) | debconf-2.0

Package: mime-support
Status: install ok installed
Architecture: all
Version: 3.66

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9
Depends: libgcc-s1
Description: GNU C Library
 a long description
 over lines

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9

Package: libgcc-s1
Status: deinstall ok config-files
Architecture: amd64
Version: 12.2.0

Package: debconf
Status: install ok installed
Architecture: all
Version: 1.5.82
Depends: perl-base

Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22
`

func TestDpkgClosure(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "status"), []byte(fakeStatus), 0o644)
	os.MkdirAll(filepath.Join(dir, "info"), 0o755)
	os.WriteFile(filepath.Join(dir, "info", "libc6:amd64.list"), []byte("/.\n/lib64\n/lib/x86_64-linux-gnu/libc.so.6\n"), 0o644)
	db, err := ReadDpkg(dir, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := db.Closure([]string{"python3"}, map[string]bool{"dpkg": true, "debconf": true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Name+"="+p.Version+":"+p.Arch)
	}
	// media-types is not installed: mime-support stands in; tzdata through
	// its Provides; debconf and dpkg excluded; libgcc-s1 only has config
	// files left; libc6 is the native one.
	want := []string{"libc6=2.36-9:amd64", "libpython3-stdlib=3.11.2-1+b1:amd64", "mime-support=3.66:all", "python3=3.11.2-1+b1:amd64",
		"python3-minimal=3.11.2-1+b1:amd64", "python3.11=3.11.2-6:amd64", "tzdata=2025b:all"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("closure\n got %v\nwant %v", names, want)
	}
	files, err := db.Files(db.Installed("libc6"))
	if err != nil || !reflect.DeepEqual(files, []string{"/lib64", "/lib/x86_64-linux-gnu/libc.so.6"}) {
		t.Errorf("files %v %v", files, err)
	}
	if _, err := db.Closure([]string{"python3-boto3"}, nil); err == nil || err.Error() != "package python3-boto3 is not installed" {
		t.Errorf("missing root: %v", err)
	}
	if _, err := ReadDpkg(filepath.Join(dir, "none"), "amd64"); err == nil || !strings.Contains(err.Error(), "needs a Debian or Ubuntu host") {
		t.Errorf("no database: %v", err)
	}
}

func TestSkipBasePath(t *testing.T) {
	for p, skip := range map[string]bool{
		"/usr/share/doc/python3":                true,
		"/usr/share/doc/python3/copyright":      false,
		"/usr/share/doc/python3/changelog.gz":   true,
		"/usr/share/doc/python3/examples/a.py":  true,
		"/usr/share/man/man1/python3.1.gz":      true,
		"/usr/share/locale/de/LC_MESSAGES/x.mo": true,
		"/usr/lib/python3.11/os.py":             false,
		"/usr/share/zoneinfo/UTC":               false,
	} {
		// The package's doc directory itself is kept (it holds copyright).
		if p == "/usr/share/doc/python3" {
			skip = false
		}
		if got := skipBasePath(p); got != skip {
			t.Errorf("skipBasePath(%s) = %v", p, got)
		}
	}
}

// TestCollectBaseFilesOnThisHost assembles the file list of a small real
// package: paths land at their merged-/usr place and the root links exist.
func TestCollectBaseFilesOnThisHost(t *testing.T) {
	db, err := ReadDpkg("/var/lib/dpkg", dpkgArch())
	if err != nil {
		t.Skip("not a Debian host")
	}
	z := db.Installed("zlib1g")
	if z == nil {
		t.Skip("zlib1g is not installed")
	}
	files, err := collectBaseFiles(db, []*Package{z})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]fileEntry{}
	for _, f := range files {
		byName[f.name] = f
	}
	var lib string
	for n, f := range byName {
		if strings.Contains(n, "libz.so.1") && f.typ == tar.TypeSymlink {
			lib = n
		}
	}
	if lib == "" {
		t.Fatalf("no libz.so.1 link among %d files", len(files))
	}
	if l, err := os.Readlink("/lib"); err == nil && l == "usr/lib" {
		if !strings.HasPrefix(lib, "usr/lib/") || byName["lib"].link != "usr/lib" {
			t.Errorf("merged /usr: %s, lib → %q", lib, byName["lib"].link)
		}
	}
	for _, want := range []string{"etc/passwd", "etc/group", "etc/nsswitch.conf", "tmp", "etc/ssl/certs"} {
		if _, ok := byName[want]; !ok {
			t.Errorf("%s missing", want)
		}
	}
	if byName["tmp"].mode != 0o1777 || !strings.Contains(string(byName["etc/passwd"].data), "nobody:x:65534") {
		t.Errorf("tmp %o passwd %q", byName["tmp"].mode, byName["etc/passwd"].data)
	}
	// Every symbolic link's target is in the image.
	lf := newLayerFiles(files)
	have := map[string]bool{}
	for _, e := range lf.entries {
		have[e.name] = true
	}
	target := filepath.Join(filepath.Dir(lib), byName[lib].link)
	if !have[strings.TrimPrefix(target, "/")] {
		t.Errorf("%s → %s: target missing", lib, target)
	}
}
