package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// recordingTarget keeps what it is sent and serves one base image; it
// stands in for Docker and containerd in unit tests.
type recordingTarget struct {
	mu    sync.Mutex
	base  *BaseImage
	sent  []*Image
	have  map[string]string // ref → image ID, as a daemon keeps
	bases int
}

func (r *recordingTarget) Name() string { return "test" }
func (r *recordingTarget) Close() error { return nil }
func (r *recordingTarget) Base(_ context.Context, ref, _ string) (*BaseImage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bases++
	if r.base == nil || r.base.Ref != ref {
		return nil, fmt.Errorf("%w: no such image", ErrBaseNotFound)
	}
	return r.base, nil
}
func (r *recordingTarget) Send(_ context.Context, img *Image) (Sent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.have == nil {
		r.have = map[string]string{}
	}
	if r.have[img.Ref] == img.ID() {
		return Sent{UpToDate: true}, nil
	}
	r.have[img.Ref] = img.ID()
	r.sent = append(r.sent, img)
	return Sent{Verb: "sent", Layers: len(img.Layers)}, nil
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, "bootstrap") || strings.HasSuffix(name, "esb-rie") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// tarNames lists a tar's entries as "name mode uid/gid mtime".
func tarNames(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %o %d/%d %d %s", h.Name, h.Mode, h.Uid, h.Gid, h.ModTime.Unix(), h.Linkname))
	}
}

func TestLayerIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app.py": "print(1)\n", "lib/b.py": "b", "lib/a.py": "a", "run.sh": "#!/bin/sh\n"})
	if err := os.Symlink("lib/a.py", filepath.Join(dir, "link.py")); err != nil {
		t.Fatal(err)
	}
	layer := func() (digest.Digest, []byte) {
		entries, err := copyEntries(dir, "src/", "/var/task/", nil)
		if err != nil {
			t.Fatal(err)
		}
		lf := newLayerFiles(entries)
		var buf bytes.Buffer
		if err := lf.writeTar(&buf); err != nil {
			t.Fatal(err)
		}
		d, size, err := lf.digest()
		if err != nil || size != int64(buf.Len()) || d != digest.FromBytes(buf.Bytes()) {
			t.Fatalf("digest %s %d %v, tar %d bytes", d, size, err, buf.Len())
		}
		return d, buf.Bytes()
	}
	d1, data := layer()
	want := []string{
		"var/ 755 0/0 0 ", "var/task/ 755 0/0 0 ", "var/task/app.py 644 0/0 0 ", "var/task/lib/ 755 0/0 0 ",
		"var/task/lib/a.py 644 0/0 0 ", "var/task/lib/b.py 644 0/0 0 ", "var/task/link.py 777 0/0 0 lib/a.py", "var/task/run.sh 755 0/0 0 ",
	}
	if got := tarNames(t, data); !reflect.DeepEqual(got, want) {
		t.Errorf("layer entries\n got %q\nwant %q", got, want)
	}
	// New times (a fresh checkout) do not change the digest; content does.
	later := time.Now().Add(time.Hour)
	for _, f := range []string{"app.py", "lib", "lib/a.py"} {
		os.Chtimes(filepath.Join(dir, f), later, later)
	}
	if d2, _ := layer(); d2 != d1 {
		t.Errorf("digest changed with file times: %s → %s", d1, d2)
	}
	writeFiles(t, dir, map[string]string{"app.py": "print(2)\n"})
	if d3, _ := layer(); d3 == d1 {
		t.Error("digest did not change with the content")
	}
	os.Chmod(filepath.Join(dir, "app.py"), 0o600)
	d4, _ := layer()
	os.Chmod(filepath.Join(dir, "app.py"), 0o644)
	if d5, _ := layer(); d4 == d5 {
		t.Error("digest did not change with the mode")
	}
}

func TestCopyEntriesExcludesAndRejects(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app.py": "x", ".esb/functions/f/Dockerfile": "y"})
	entries, err := copyEntries(dir, "./", "/var/task/", []string{filepath.Join(dir, ".esb")})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.name, ".esb") {
			t.Errorf("output directory copied: %s", e.name)
		}
	}
	if _, err := copyEntries(filepath.Join(dir, "missing"), "missing/", "/var/task/", nil); err == nil || err.Error() != "missing/ does not exist" {
		t.Errorf("missing source: %v", err)
	}
	f, _ := copyEntries(filepath.Join(dir, "app.py"), "app.py", "/usr/local/bin/esb-rie", nil)
	if len(f) != 1 || f[0].name != "usr/local/bin/esb-rie" {
		t.Errorf("file copy: %+v", f)
	}
}

// testProject writes a project with a python function (a layer and code)
// and a Go-less provided function, and plans both.
func testProject(t *testing.T) (dir string, plans []*Plan) {
	t.Helper()
	dir = t.TempDir()
	writeFiles(t, dir, map[string]string{
		"src/app.py":                     "def handler(e, c):\n    return 1\n",
		"layers/common/python/common.py": "X = 1\n",
		"bin/bootstrap":                  "#!/bin/sh\n",
		".esb/bin/linux-amd64/esb-rie":   "rie",
	})
	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"py":  {Runtime: "python3.12", Handler: "app.handler", CodeURI: "src", Layers: []manifest.Layer{{Name: "common", ContentURI: "layers/common"}}},
		"cst": {Runtime: "provided.al2023", Handler: "bootstrap", CodeURI: "bin"},
	}}
	plans, err := NewPlans(fns, Config{Project: "p", Tag: "t", ContextDir: dir, OutputDir: filepath.Join(dir, ".esb"),
		Runtimes: map[string]string{"python3.12": "base:1"}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, plans
}

func testBase() *BaseImage {
	baseLayer := digest.FromString("base layer")
	return &BaseImage{Ref: "base:1", Source: "test", Config: ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Env: []string{"PATH=/usr/bin", "LAMBDA_TASK_ROOT=/old"}, Entrypoint: []string{"/lambda-entrypoint.sh"}, Cmd: []string{"x"}, Labels: map[string]string{"vendor": "v"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{baseLayer}},
	}, Layers: []Layer{{DiffID: baseLayer, Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: baseLayer}}}}
}

func newTestBuilder(t *testing.T, dir string, target Target, noCache bool) *Builder {
	t.Helper()
	st, err := OpenStore(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	return NewBuilder(BuildOptions{Store: st, Target: target, NoCache: noCache, OutputDir: filepath.Join(dir, ".esb"),
		RIE: RIE{Binary: filepath.Join(dir, ".esb/bin/linux-amd64/esb-rie")}})
}

// reuse lists "kind reused|built" per layer of each result.
func reuse(rs []Result) []string {
	var out []string
	for _, r := range rs {
		for _, l := range r.Layers {
			state := "built"
			if l.Reused {
				state = "reused"
			}
			out = append(out, r.Function+" "+string(l.Kind)+" "+state)
		}
	}
	return out
}

func TestBuildCacheReusesUnchangedLayers(t *testing.T) {
	dir, plans := testProject(t)
	target := &recordingTarget{base: testBase()}
	b := newTestBuilder(t, dir, target, false)
	ctx := context.Background()

	first, err := b.Build(ctx, plans)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cst esb-rie built", "cst code built", "py esb-rie reused", "py layer built", "py code built"}
	if got := reuse(first); !reflect.DeepEqual(got, want) {
		t.Errorf("first build: %q, want %q", got, want)
	}
	if len(target.sent) != 2 {
		t.Fatalf("sent %d images", len(target.sent))
	}

	// Nothing changed: everything reused, nothing sent.
	again, err := b.Build(ctx, plans)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range reuse(again) {
		if !strings.HasSuffix(s, "reused") {
			t.Errorf("unchanged build: %s", s)
		}
	}
	if len(target.sent) != 2 || !again[0].Sent.UpToDate || !again[1].Sent.UpToDate {
		t.Errorf("unchanged images were sent again: %d sends", len(target.sent))
	}

	// A code-only change rebuilds the code layer of that function only.
	writeFiles(t, dir, map[string]string{"src/app.py": "def handler(e, c):\n    return 2\n"})
	changed, err := b.Build(ctx, plans)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"cst esb-rie reused", "cst code reused", "py esb-rie reused", "py layer reused", "py code built"}
	if got := reuse(changed); !reflect.DeepEqual(got, want) {
		t.Errorf("after a code change: %q, want %q", got, want)
	}
	if len(target.sent) != 3 || target.sent[2].Ref != "esb-py:t" {
		t.Fatalf("after a code change %d sends", len(target.sent))
	}
	before, after := target.sent[1].DiffIDs(), target.sent[2].DiffIDs()
	if !reflect.DeepEqual(before[:3], after[:3]) || before[3] == after[3] {
		t.Errorf("layers before %v after %v: want base, esb-rie and layer unchanged, code changed", before, after)
	}

	// --no-cache rebuilds every layer (with the same digests).
	nc := newTestBuilder(t, dir, target, true)
	nc.opts.Store = b.opts.Store
	all, err := nc.Build(ctx, plans)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range reuse(all) {
		if !strings.HasSuffix(s, "built") {
			t.Errorf("--no-cache: %s", s)
		}
	}
	if all[1].ID != changed[1].ID {
		t.Errorf("--no-cache gave another image: %s vs %s", all[1].ID, changed[1].ID)
	}
}

func TestComposedConfigFollowsThePlan(t *testing.T) {
	dir, plans := testProject(t)
	target := &recordingTarget{base: testBase()}
	if _, err := newTestBuilder(t, dir, target, false).Build(context.Background(), plans); err != nil {
		t.Fatal(err)
	}
	for i, img := range target.sent {
		p := plans[i]
		var cfg ocispec.Image
		if err := json.Unmarshal(img.Config, &cfg); err != nil {
			t.Fatal(err)
		}
		c := cfg.Config
		if !reflect.DeepEqual(c.Entrypoint, p.Entrypoint) || !reflect.DeepEqual(c.Cmd, p.Cmd) || c.WorkingDir != p.WorkDir {
			t.Errorf("%s: entrypoint %v cmd %v workdir %s; plan %v %v %s", p.Function, c.Entrypoint, c.Cmd, c.WorkingDir, p.Entrypoint, p.Cmd, p.WorkDir)
		}
		for k, v := range p.Labels {
			if c.Labels[k] != v {
				t.Errorf("%s: label %s=%q, plan %q", p.Function, k, c.Labels[k], v)
			}
		}
		if cfg.Architecture != "amd64" || cfg.OS != "linux" || len(cfg.RootFS.DiffIDs) != len(img.Layers) || len(cfg.History) != len(img.Layers) {
			t.Errorf("%s: platform %s/%s, %d diff ids, %d history, %d layers", p.Function, cfg.OS, cfg.Architecture, len(cfg.RootFS.DiffIDs), len(cfg.History), len(img.Layers))
		}
		if p.Function == "py" {
			// The base's environment stays, the plan's wins; base labels stay.
			if !reflect.DeepEqual(c.Env, []string{"PATH=/usr/bin", "LAMBDA_TASK_ROOT=/var/task"}) || c.Labels["vendor"] != "v" {
				t.Errorf("py: env %v labels %v", c.Env, c.Labels)
			}
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(img.Manifest, &m); err != nil || m.Config.Digest != img.ConfigDesc.Digest || len(m.Layers) != len(img.Layers) {
			t.Errorf("%s: manifest %s %v", p.Function, img.Manifest, err)
		}
	}
	// InheritCmd: the base's ENTRYPOINT and CMD become esb-rie's arguments.
	img, err := compose(testBase(), nil, imageSpec{ref: "x", platform: "linux/amd64", entrypoint: []string{RIEPath}, inheritCmd: true})
	if err != nil {
		t.Fatal(err)
	}
	var cfg ocispec.Image
	json.Unmarshal(img.Config, &cfg)
	if !reflect.DeepEqual(cfg.Config.Cmd, []string{"/lambda-entrypoint.sh", "x"}) || !reflect.DeepEqual(cfg.Config.Entrypoint, []string{RIEPath}) {
		t.Errorf("inherited cmd %v entrypoint %v", cfg.Config.Cmd, cfg.Config.Entrypoint)
	}
}

// TestDockerfileAgreesWithPlan checks every instruction of the rendered
// Dockerfile against the plan the native builder builds from.
func TestDockerfileAgreesWithPlan(t *testing.T) {
	_, plans := testProject(t)
	for _, p := range plans {
		var copies []Copy
		var env []string
		labels := map[string]string{}
		var from, workdir, entry, cmd string
		for _, line := range strings.Split(string(p.Dockerfile("template.yaml")), "\n") {
			instr, rest, _ := strings.Cut(line, " ")
			switch instr {
			case "FROM":
				from = rest
			case "COPY":
				src, dst, _ := strings.Cut(rest, " ")
				copies = append(copies, Copy{Src: src, Dest: dst})
			case "WORKDIR":
				workdir = rest
			case "ENV":
				name, v, _ := strings.Cut(rest, "=")
				var s string
				json.Unmarshal([]byte(v), &s)
				env = append(env, name+"="+s)
			case "LABEL":
				for _, kv := range strings.Fields(rest) {
					k, v, _ := strings.Cut(kv, "=")
					var s string
					json.Unmarshal([]byte(v), &s)
					labels[k] = s
				}
			case "ENTRYPOINT":
				entry = rest
			case "CMD":
				cmd = rest
			}
		}
		if from != p.Base || workdir != p.WorkDir || !reflect.DeepEqual(env, p.Env) || !reflect.DeepEqual(labels, p.Labels) {
			t.Errorf("%s: FROM %s WORKDIR %s ENV %v LABEL %v; plan %s %s %v %v", p.Function, from, workdir, env, labels, p.Base, p.WorkDir, p.Env, p.Labels)
		}
		if len(copies) != len(p.Copies) {
			t.Fatalf("%s: %d COPY lines, %d copies", p.Function, len(copies), len(p.Copies))
		}
		for i, c := range p.Copies {
			if copies[i].Src != c.Src || copies[i].Dest != c.Dest {
				t.Errorf("%s: COPY %s %s, plan %s %s", p.Function, copies[i].Src, copies[i].Dest, c.Src, c.Dest)
			}
		}
		if entry != jsonArray(p.Entrypoint) || cmd != jsonArray(p.Cmd) {
			t.Errorf("%s: ENTRYPOINT %s CMD %s; plan %v %v", p.Function, entry, cmd, p.Entrypoint, p.Cmd)
		}
	}
}

func TestBuildErrorsAreOneLine(t *testing.T) {
	ctx := context.Background()
	check := func(name string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v; want one line containing %q", name, err, want)
		}
	}

	dir, plans := testProject(t)
	os.RemoveAll(filepath.Join(dir, "src"))
	_, err := newTestBuilder(t, dir, &recordingTarget{base: testBase()}, false).Build(ctx, plans)
	check("missing code", err, "build image of py: code directory: src/ does not exist (CodeUri; fix the path in the template)")

	dir, plans = testProject(t)
	_, err = newTestBuilder(t, dir, &recordingTarget{}, false).Build(ctx, plans)
	check("missing base", err, "build image of py: base image base:1 for runtime python3.12 is not in test and could not be pulled (no such image); run `esb base build python3.12`")

	// The offline base exists on this host but the project does not name it.
	dir, plans = testProject(t)
	b := newTestBuilder(t, dir, &recordingTarget{}, false)
	os.WriteFile(recordPath(b.opts.Store, BaseRef("python3.12")), []byte(`{"runtime":"python3.12"}`), 0o644)
	_, err = b.Build(ctx, plans)
	check("offline base not recorded", err, "this host has an offline base for it already: run `esb base build python3.12` in this project to record it")

	dir, plans = testProject(t)
	plans[1].Base = "vendor/img:1"
	plans[1].Labels[LabelRuntime] = ""
	_, err = newTestBuilder(t, dir, &recordingTarget{}, false).Build(ctx, plans)
	check("missing image base", err, "base image vendor/img:1 (the function's ImageUri) is not in test")

	// go build: missing code and a compile error.
	dir = t.TempDir()
	writeFiles(t, dir, map[string]string{"go.mod": "module gofn\n\ngo 1.22\n", "fn/main.go": "package main\n\nfunc main() { undefinedCall() }\n", ".esb/bin/linux-amd64/esb-rie": "rie"})
	fns := manifest.Functions{Functions: map[string]manifest.Function{
		"gofn": {Runtime: "provided.al2023", Handler: "bootstrap", CodeURI: "fn", BuildMethod: "go1.x"},
	}}
	gplans, err := NewPlans(fns, Config{Project: "p", ContextDir: dir, OutputDir: filepath.Join(dir, ".esb")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = newTestBuilder(t, dir, &recordingTarget{}, false).Build(ctx, gplans)
	check("go build", err, "build image of gofn: go build in fn failed: ./main.go:3:15: undefined: undefinedCall")
	os.RemoveAll(filepath.Join(dir, "fn"))
	_, err = newTestBuilder(t, dir, &recordingTarget{}, false).Build(ctx, gplans)
	check("go code missing", err, "build image of gofn: code directory fn/ does not exist (CodeUri; fix the path in the template)")

	// No esb-rie anywhere.
	dir, plans = testProject(t)
	b = newTestBuilder(t, dir, &recordingTarget{}, false)
	b.opts.RIE = RIE{}
	_, err = b.Build(ctx, plans)
	check("no esb-rie", err, "no esb-rie binary for linux/amd64: set ESB_RIE")
	if errors.Is(err, ErrBaseNotFound) {
		t.Error("wrong error")
	}
}

func TestStoreWriteIsAtomicAndPrunes(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Put([]byte("hello"))
	if err != nil || b.Digest != digest.FromString("hello") || b.Size != 5 || !st.Has(b.Digest) {
		t.Fatalf("put: %+v %v", b, err)
	}
	_, err = st.Write(func(w io.Writer) error { w.Write([]byte("partial")); return errors.New("boom") }, false)
	if err == nil || st.Has(digest.FromString("partial")) {
		t.Fatalf("a failed write left a blob: %v", err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(st.Dir(), "tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(st.Path(b.Digest), old, old)
	if n, size, err := st.Prune(24 * time.Hour); n != 1 || size != 5 || err != nil || st.Has(b.Digest) {
		t.Errorf("prune: %d %d %v", n, size, err)
	}
}

// TestBuildInParallel builds many images a few at a time: results come in
// plan order, the base is resolved once, and every image is sent once.
func TestBuildInParallel(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{".esb/bin/linux-amd64/esb-rie": "rie"}
	fns := manifest.Functions{Functions: map[string]manifest.Function{}}
	for i := 0; i < 8; i++ {
		files[fmt.Sprintf("f%d/app.py", i)] = fmt.Sprintf("X = %d\n", i)
		fns.Functions[fmt.Sprintf("f%d", i)] = manifest.Function{Runtime: "python3.12", Handler: "app.handler", CodeURI: fmt.Sprintf("f%d", i)}
	}
	writeFiles(t, dir, files)
	plans, err := NewPlans(fns, Config{Project: "p", ContextDir: dir, OutputDir: filepath.Join(dir, ".esb"), Runtimes: map[string]string{"python3.12": "base:1"}})
	if err != nil {
		t.Fatal(err)
	}
	target := &recordingTarget{base: testBase()}
	b := newTestBuilder(t, dir, target, false)
	b.opts.Jobs = 4
	res, err := b.Build(context.Background(), plans)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Function != plans[i].Function || r.ID == "" {
			t.Errorf("result %d: %s %s", i, r.Function, r.ID)
		}
	}
	if target.bases != 1 || len(target.sent) != 8 {
		t.Errorf("base resolved %d times, %d images sent", target.bases, len(target.sent))
	}
}
