package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// baseFormat is part of every base image's cache key: change it when the
// way bases are assembled changes, so old ones are rebuilt.
const baseFormat = "esb-base/2"

// Labels on base images esb assembles.
const (
	LabelBaseRuntime     = "esb.base.runtime"
	LabelBaseInterpreter = "esb.base.interpreter"
	LabelBaseKey         = "esb.base.key"
)

var (
	pythonRuntime = regexp.MustCompile(`^python3\.(9|1[0-3])$`)
	nodeRuntime   = regexp.MustCompile(`^nodejs(18|20|22)\.x$`)
)

// OfflineRuntime reports whether `esb base build` can assemble a base image
// for the runtime from the host's packages.
func OfflineRuntime(rt string) bool {
	return pythonRuntime.MatchString(rt) || nodeRuntime.MatchString(rt)
}

// OfflineRuntimes lists the runtimes `esb base build` supports.
func OfflineRuntimes() []string {
	return []string{"python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "nodejs18.x", "nodejs20.x", "nodejs22.x"}
}

// BaseRef is the reference `esb base build` gives a runtime's base image.
func BaseRef(rt string) string { return "esb-base-" + rt + ":local" }

// baseSpec says which host packages make a runtime's base image.
type baseSpec struct {
	interpreter string   // the runtime's program on the host
	roots       []string // packages that must be installed
	extras      []string // packages taken when installed
	exclude     map[string]bool
	installHint string
}

// installOnly are packages only needed to install or configure packages
// (maintainer scripts, debconf), never by a running function.
var installOnly = []string{
	"debconf", "debconf-2.0", "cdebconf", "perl-base", "dpkg", "install-info", "ucf", "adduser", "passwd",
	"init-system-helpers", "lsb-base", "sysvinit-utils", "sensible-utils", "libpam-runtime", "libpam-modules",
	"libpam-modules-bin", "libpam0g", "login", "base-passwd", "debianutils", "media-types-data",
}

func specFor(rt string) (baseSpec, error) {
	ex := map[string]bool{}
	for _, p := range installOnly {
		ex[p] = true
	}
	switch {
	case pythonRuntime.MatchString(rt):
		return baseSpec{interpreter: "/usr/bin/python3", roots: []string{"python3", "python3-boto3"}, extras: []string{"ca-certificates", "tzdata"},
			exclude: ex, installHint: "apt-get install python3 python3-boto3"}, nil
	case nodeRuntime.MatchString(rt):
		// node's package depends on python3 for node-gyp (building native
		// add-ons), which a function never runs.
		ex["python3"] = true
		return baseSpec{interpreter: "/usr/bin/node", roots: []string{"nodejs"}, extras: []string{"ca-certificates", "tzdata"},
			exclude: ex, installHint: "apt-get install nodejs"}, nil
	}
	return baseSpec{}, fmt.Errorf("esb base build supports %s, not %q", strings.Join(OfflineRuntimes(), ", "), rt)
}

// BaseOptions configure BuildBase.
type BaseOptions struct {
	// Runtime is the Lambda runtime (python3.12, nodejs20.x, …).
	Runtime string
	// Store is the build cache.
	Store *Store
	// Target receives the base image (nil: cache only).
	Target Target
	// NoCache reassembles the image even when the cache has it.
	NoCache bool
	// DpkgDir is dpkg's database (default /var/lib/dpkg).
	DpkgDir string
	// Progress shows the steps.
	Progress *Progress
}

// BaseResult describes an offline base image.
type BaseResult struct {
	Runtime string
	Ref     string
	// Interpreter is the host program the runtime uses, with its version
	// ("/usr/bin/python3 (Python 3.11.2)").
	Interpreter string
	// Packages are "name version" of every package in the image.
	Packages []string
	Files    int
	Size     int64
	ID       string
	// Reused means the cache had the image for these package versions.
	Reused  bool
	Sent    Sent
	Elapsed time.Duration
}

// baseRecord is what the cache keeps about a base image (bases/<name>.json).
type baseRecord struct {
	Runtime     string        `json:"runtime"`
	Ref         string        `json:"ref"`
	Key         string        `json:"key"`
	Interpreter string        `json:"interpreter"`
	Packages    []string      `json:"packages"`
	Files       int           `json:"files"`
	Config      digest.Digest `json:"config"`
	Layer       Blob          `json:"layer"`
	Built       time.Time     `json:"built"`
}

func recordPath(s *Store, ref string) string {
	return filepath.Join(s.Dir(), "bases", strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".json")
}

func readRecord(s *Store, ref string) (*baseRecord, error) {
	data, err := os.ReadFile(recordPath(s, ref))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read base image record: %w", err)
	}
	var rec baseRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("read base image record %s: %w", recordPath(s, ref), err)
	}
	return &rec, nil
}

// LoadBase returns the base image `esb base build` made under ref, or nil
// when the cache has none (or lost its blobs).
func LoadBase(s *Store, ref string) (*BaseImage, error) {
	rec, err := readRecord(s, ref)
	if err != nil || rec == nil {
		return nil, err
	}
	return rec.image(s)
}

func (rec *baseRecord) image(s *Store) (*BaseImage, error) {
	if !s.Has(rec.Layer.Digest) {
		return nil, nil
	}
	raw, err := s.Read(rec.Config)
	if err != nil {
		return nil, nil
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("read base image %s: %w", rec.Ref, err)
	}
	return &BaseImage{Ref: rec.Ref, Config: cfg, Layers: []Layer{storeLayer(s, rec.Layer)}, Source: "esb base, " + rec.Interpreter}, nil
}

// BuildBase assembles the offline base image of a runtime from the host's
// installed Debian packages, or finds it in the cache when the packages did
// not change, and sends it to the target.
func BuildBase(ctx context.Context, o BaseOptions) (*BaseResult, error) {
	start := time.Now()
	spec, err := specFor(o.Runtime)
	if err != nil {
		return nil, err
	}
	if o.DpkgDir == "" {
		o.DpkgDir = "/var/lib/dpkg"
	}
	task := o.Progress.Start("base " + o.Runtime)
	defer task.End()
	task.Step("reading the package database")
	db, err := ReadDpkg(o.DpkgDir, dpkgArch())
	if err != nil {
		return nil, err
	}
	for _, r := range spec.roots {
		if db.Installed(r) == nil {
			return nil, fmt.Errorf("package %s is not installed on this host; install it (%s) and run esb base build %s again", r, spec.installHint, o.Runtime)
		}
	}
	if _, err := os.Stat(spec.interpreter); err != nil {
		return nil, fmt.Errorf("%s is missing although its package is installed; reinstall it (%s)", spec.interpreter, spec.installHint)
	}
	roots := append([]string(nil), spec.roots...)
	for _, e := range spec.extras {
		if db.Installed(e) != nil {
			roots = append(roots, e)
		}
	}
	pkgs, err := db.Closure(roots, spec.exclude)
	if err != nil {
		return nil, err
	}
	res := &BaseResult{Runtime: o.Runtime, Ref: BaseRef(o.Runtime)}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", baseFormat, o.Runtime, runtime.GOARCH)
	// Packages are listed with the runtime's own first.
	for _, r := range spec.roots {
		p := db.Installed(r)
		res.Packages = append(res.Packages, p.Name+" "+p.Version)
	}
	for _, p := range pkgs {
		fmt.Fprintf(h, "%s %s %s\n", p.Name, p.Version, p.Arch)
		if !slices.Contains(spec.roots, p.Name) {
			res.Packages = append(res.Packages, p.Name+" "+p.Version)
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	res.Interpreter = interpreterVersion(ctx, spec.interpreter)

	var layer Blob
	var cj []byte
	if rec, err := readRecord(o.Store, res.Ref); err == nil && rec != nil && rec.Key == key && !o.NoCache && o.Store.Has(rec.Layer.Digest) {
		if cj, err = o.Store.Read(rec.Config); err == nil {
			layer, res.Reused, res.Files, res.Size = rec.Layer, true, rec.Files, rec.Layer.Size
		}
	}
	if !res.Reused {
		task.Step("collecting files of " + plural(len(pkgs), "package"))
		files, err := collectBaseFiles(db, pkgs)
		if err != nil {
			return nil, err
		}
		lf := newLayerFiles(files)
		task.Step(fmt.Sprintf("writing %d files", len(lf.entries)))
		if layer, err = o.Store.Write(lf.writeTar, true); err != nil {
			return nil, err
		}
		if cj, err = json.Marshal(baseConfig(o.Runtime, spec, res, key, layer.Digest)); err != nil {
			return nil, err
		}
		cb, err := o.Store.Put(cj)
		if err != nil {
			return nil, err
		}
		rec := &baseRecord{Runtime: o.Runtime, Ref: res.Ref, Key: key, Interpreter: res.Interpreter, Packages: res.Packages,
			Files: len(lf.entries), Config: cb.Digest, Layer: layer, Built: time.Now().UTC()}
		data, _ := json.MarshalIndent(rec, "", "  ")
		if err := os.WriteFile(recordPath(o.Store, res.Ref), data, 0o644); err != nil {
			return nil, fmt.Errorf("record base image: %w", err)
		}
		res.Files, res.Size = rec.Files, layer.Size
	}
	img, err := imageFromConfig(res.Ref, "linux/"+runtime.GOARCH, cj, []Layer{storeLayer(o.Store, layer)})
	if err != nil {
		return nil, err
	}
	img.Force = o.NoCache
	res.ID = img.ID()
	if o.Target != nil {
		task.Step("sending to " + o.Target.Name())
		if res.Sent, err = o.Target.Send(ctx, img); err != nil {
			return nil, err
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// baseConfig is the base image's config.
func baseConfig(rt string, spec baseSpec, res *BaseResult, key string, layer digest.Digest) ocispec.Image {
	created := epoch()
	return ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config: ocispec.ImageConfig{
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"LANG=C.UTF-8",
				"LAMBDA_TASK_ROOT=" + TaskRoot,
			},
			Cmd:        []string{spec.interpreter},
			WorkingDir: TaskRoot,
			Labels: map[string]string{
				LabelManaged:         "true",
				LabelBaseRuntime:     rt,
				LabelBaseInterpreter: res.Interpreter,
				LabelBaseKey:         key,
			},
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer}},
		History: []ocispec.History{{Created: &created, CreatedBy: fmt.Sprintf("esb base build %s: %s from %s of this host's Debian packages (%s)",
			rt, res.Interpreter, plural(len(res.Packages), "package"), strings.Join(spec.roots, ", "))}},
	}
}

// interpreterVersion runs the interpreter to learn its version.
func interpreterVersion(ctx context.Context, prog string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, "--version").CombinedOutput()
	v := strings.TrimSpace(string(out))
	if err != nil || v == "" {
		return prog
	}
	if strings.HasPrefix(v, "v") { // node prints v20.1.0
		v = "Node.js " + v
	}
	return prog + " (" + v + ")"
}

// dpkgArch maps GOARCH to dpkg's architecture names.
func dpkgArch() string {
	switch runtime.GOARCH {
	case "arm":
		return "armhf"
	case "386":
		return "i386"
	case "ppc64le":
		return "ppc64el"
	}
	return runtime.GOARCH
}

// Paths left out of base images: documentation, translations and C headers
// (for building native add-ons) no function reads; copyright files are kept.
var skipPrefixes = []string{
	"/usr/include/", "/usr/share/man/", "/usr/share/info/", "/usr/share/lintian/", "/usr/share/locale/", "/usr/share/bug/",
	"/usr/share/doc-base/", "/usr/share/menu/", "/usr/share/bash-completion/", "/usr/share/zsh/",
}

func skipBasePath(p string) bool {
	if rel, ok := strings.CutPrefix(p, "/usr/share/doc/"); ok {
		parts := strings.Split(rel, "/")
		return !(len(parts) == 1 || len(parts) == 2 && parts[1] == "copyright")
	}
	for _, s := range skipPrefixes {
		if strings.HasPrefix(p, s) || p+"/" == s {
			return true
		}
	}
	return false
}

// collectBaseFiles lists every file the packages installed (as `dpkg -L`
// shows them, at their real place on a merged-/usr host), their compiled
// Python files, the targets of their symbolic links, the CA certificates,
// and a minimal /etc (passwd and group with root and nobody, nsswitch.conf).
func collectBaseFiles(db *Dpkg, pkgs []*Package) ([]fileEntry, error) {
	c := &collector{seen: map[string]bool{}, rootLinks: map[string]string{}}
	for _, n := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		if t, err := os.Readlink("/" + n); err == nil {
			c.rootLinks["/"+n] = t
			c.out = append(c.out, fileEntry{name: n, typ: tar.TypeSymlink, link: t, mode: 0o777, mtime: epoch()})
		}
	}
	for _, p := range pkgs {
		files, err := db.Files(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if skipBasePath(f) {
				continue
			}
			if err := c.add(f, true); err != nil {
				return nil, fmt.Errorf("package %s: %w", p.Name, err)
			}
			if strings.HasSuffix(f, ".py") {
				c.addPyc(f)
			}
		}
	}
	if err := c.addTree("/etc/ssl/certs"); err != nil {
		return nil, err
	}
	gen := func(name, content string, mode int64) {
		c.out = append(c.out, fileEntry{name: name, typ: tar.TypeReg, mode: mode, size: int64(len(content)), data: []byte(content), mtime: epoch()})
	}
	gen("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0o644)
	gen("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644)
	// Without it glibc asks DNS before /etc/hosts, where the agent puts
	// s3-storage, database and gateway.
	gen("etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n", 0o644)
	for _, d := range []struct {
		name string
		mode int64
	}{{"tmp", 0o1777}, {"var/task", 0o755}, {"opt", 0o755}, {"var/runtime", 0o755}, {"root", 0o700}} {
		c.out = append(c.out, fileEntry{name: d.name, typ: tar.TypeDir, mode: d.mode, mtime: epoch()})
	}
	return c.out, nil
}

type collector struct {
	seen      map[string]bool
	rootLinks map[string]string
	out       []fileEntry
}

// canonical resolves the directories of p through the host's symbolic
// links (/lib → /usr/lib on merged-/usr systems), keeping p's last element.
func (c *collector) canonical(p string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return p
	}
	return filepath.Join(dir, filepath.Base(p))
}

// add puts host path p into the image, following symbolic links to their
// targets. A path dpkg lists but the host lacks is skipped (dpkg path
// excludes of minimal images, diversions).
func (c *collector) add(p string, follow bool) error {
	if _, ok := c.rootLinks[p]; ok {
		return nil
	}
	for hops := 0; hops < 16; hops++ {
		cp := c.canonical(p)
		if c.seen[cp] {
			return nil
		}
		e, err := hostEntry(strings.TrimPrefix(cp, "/"), cp)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		c.seen[cp] = true
		c.out = append(c.out, e)
		if e.typ != tar.TypeSymlink || !follow {
			return nil
		}
		t := e.link
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(cp), t)
		}
		if skipBasePath(t) {
			return nil
		}
		p = t
	}
	return nil
}

// addPyc adds the compiled files of a Python source file.
func (c *collector) addPyc(py string) {
	cp := c.canonical(py)
	stem := strings.TrimSuffix(filepath.Base(cp), ".py")
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(cp), "__pycache__", stem+".*.pyc"))
	for _, m := range matches {
		_ = c.add(m, false)
	}
}

// addTree adds a host directory and everything under it.
func (c *collector) addTree(root string) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		return c.add(p, true)
	})
	if err != nil {
		return fmt.Errorf("add %s: %w", root, err)
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
