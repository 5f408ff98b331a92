package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// Target is where built images go: a Docker Engine, a containerd namespace
// or a registry.
type Target interface {
	// Name says where images go, for messages ("docker", "containerd namespace esb").
	Name() string
	// Base returns a base image the target holds, pulling it if it can;
	// an error wrapping ErrBaseNotFound when it has none and cannot get one.
	Base(ctx context.Context, ref, platform string) (*BaseImage, error)
	// Send makes img available under img.Ref.
	Send(ctx context.Context, img *Image) (Sent, error)
	// Close releases the target's connections.
	Close() error
}

// ErrBaseNotFound is wrapped by Target.Base when a base image is missing.
var ErrBaseNotFound = errors.New("base image not found")

// Sent says what Target.Send did.
type Sent struct {
	// UpToDate means the target already had exactly this image under its name.
	UpToDate bool
	// Layers and Bytes count the layers (and their bytes) transferred.
	Layers int
	Bytes  int64
	// Verb is what happened ("loaded into docker", "imported into containerd", "pushed").
	Verb string
}

// RIE says where the builder gets the esb-rie binary.
type RIE struct {
	// Binary is a prebuilt esb-rie for the host's architecture (ESB_RIE, or
	// the esb-rie next to the esb executable).
	Binary string
	// SourceDir is the esb module's root; esb-rie is built from
	// ./cmd/esb-rie there for every architecture the functions need.
	SourceDir string
}

// BuildOptions configure a Builder.
type BuildOptions struct {
	// Store is the build cache.
	Store *Store
	// Target receives the images.
	Target Target
	// NoCache rebuilds every layer and resends every image.
	NoCache bool
	// OutputDir is the absolute output directory (esb-rie goes to
	// <OutputDir>/bin/…); it is never copied into an image.
	OutputDir string
	// RIE is where esb-rie comes from.
	RIE RIE
	// Go is the go command (default "go").
	Go string
	// Progress shows per-image progress (nil: silent).
	Progress *Progress
	// Verbose, when set, receives the full output of go builds.
	Verbose io.Writer
	// Jobs is how many images are built at once (default 1).
	Jobs int
}

// Builder builds function images from plans.
type Builder struct {
	opts  BuildOptions
	bases map[string]*BaseImage
}

// NewBuilder returns a builder.
func NewBuilder(opts BuildOptions) *Builder {
	if opts.Go == "" {
		opts.Go = "go"
	}
	return &Builder{opts: opts, bases: map[string]*BaseImage{}}
}

// LayerResult says how one layer of an image was obtained.
type LayerResult struct {
	Kind   CopyKind
	Name   string // layer name (CopyLayer)
	DiffID digest.Digest
	Size   int64
	// Reused means the build cache had the layer; otherwise it was written.
	Reused bool
}

// Result is one built image.
type Result struct {
	Function string
	Ref      string
	ID       string
	Base     string
	// BaseSource says where the base came from ("" for scratch).
	BaseSource string
	// GoBuild is the duration of the plan's go build (0: none).
	GoBuild time.Duration
	Layers  []LayerResult
	Sent    Sent
	Elapsed time.Duration
}

// Build builds every plan's image and sends it to the target, Jobs at a
// time. It stops at the first failure; results are in plan order.
func (b *Builder) Build(ctx context.Context, plans []*Plan) ([]Result, error) {
	platforms := map[string]bool{}
	for _, p := range plans {
		for _, c := range p.Copies {
			if c.Kind == CopyRIE && !platforms[p.Platform] {
				platforms[p.Platform] = true
				if err := b.ensureRIE(ctx, p.Platform, p.HostPath(c.Src)); err != nil {
					return nil, err
				}
			}
		}
	}
	// Base images first, in plan order: a missing one is reported for the
	// first function that needs it, and each is looked up (or pulled) once.
	for _, p := range plans {
		if p.Base == Scratch {
			continue
		}
		task := b.opts.Progress.Start(p.Function)
		task.Step("base " + p.Base)
		_, err := b.base(ctx, p)
		task.End()
		if err != nil {
			return nil, fmt.Errorf("build image of %s: %w", p.Function, err)
		}
	}
	jobs := b.opts.Jobs
	if jobs < 1 {
		jobs = 1
	}
	results := make([]Result, len(plans))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i, p := range plans {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			task := b.opts.Progress.Start(p.Function)
			r, err := b.buildOne(gctx, p, task)
			if err != nil {
				task.End()
				return fmt.Errorf("build image of %s: %w", p.Function, err)
			}
			task.Done(r.Summary(b.opts.Target.Name()))
			results[i] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

func (b *Builder) buildOne(ctx context.Context, p *Plan, task *Task) (Result, error) {
	start := time.Now()
	r := Result{Function: p.Function, Ref: p.Image, Base: p.Base}
	var base *BaseImage
	if p.Base != Scratch {
		base = b.bases[p.Base+"|"+p.Platform] // resolved by Build
		r.BaseSource = base.Source
	}
	if p.Build != nil {
		task.Step("go build")
		t := time.Now()
		if err := b.goBuild(ctx, p); err != nil {
			return r, err
		}
		r.GoBuild = time.Since(t)
	}
	var exclude []string
	if b.opts.OutputDir != "" {
		exclude = append(exclude, b.opts.OutputDir)
	}
	var added []Layer
	var history []string
	for _, c := range p.Copies {
		what := string(c.Kind)
		if c.Kind == CopyLayer {
			what = "layer " + c.Name
		}
		task.Step(what)
		entries, err := copyEntries(p.HostPath(c.Src), c.Src, c.Dest, exclude)
		if err != nil {
			if c.Kind == CopyCode && p.Build == nil {
				return r, fmt.Errorf("code directory: %w (CodeUri; fix the path in the template)", err)
			}
			if c.Kind == CopyLayer {
				return r, fmt.Errorf("layer %s: %w (ContentUri; fix the path in the template)", c.Name, err)
			}
			return r, err
		}
		lf := newLayerFiles(entries)
		lr, layer, err := b.layer(lf)
		if err != nil {
			return r, fmt.Errorf("%s: %w", what, err)
		}
		lr.Kind, lr.Name = c.Kind, c.Name
		r.Layers = append(r.Layers, lr)
		added = append(added, layer)
		history = append(history, "COPY "+c.Src+" "+c.Dest+" # esb build")
	}
	img, err := compose(base, added, imageSpec{
		ref: p.Image, platform: p.Platform, entrypoint: p.Entrypoint, cmd: p.Cmd, inheritCmd: p.InheritCmd,
		workDir: p.WorkDir, env: p.Env, labels: p.Labels, history: history,
	})
	if err != nil {
		return r, err
	}
	r.ID = img.ID()
	img.Force = b.opts.NoCache
	task.Step("sending to " + b.opts.Target.Name())
	sent, err := b.opts.Target.Send(ctx, img)
	if err != nil {
		return r, err
	}
	r.Sent = sent
	r.Elapsed = time.Since(start)
	return r, nil
}

// layer finds the layer in the cache or writes it there.
func (b *Builder) layer(lf *layerFiles) (LayerResult, Layer, error) {
	d, size, err := lf.digest()
	if err != nil {
		return LayerResult{}, Layer{}, err
	}
	st := b.opts.Store
	if !b.opts.NoCache && st.Has(d) {
		return LayerResult{DiffID: d, Size: size, Reused: true}, storeLayer(st, Blob{Digest: d, Size: size}), nil
	}
	blob, err := st.Write(lf.writeTar, b.opts.NoCache)
	if err != nil {
		return LayerResult{}, Layer{}, err
	}
	if blob.Digest != d {
		return LayerResult{}, Layer{}, errors.New("files changed while the layer was written; build again")
	}
	return LayerResult{DiffID: d, Size: size}, storeLayer(st, blob), nil
}

// base resolves a plan's base image: an offline base built by `esb base
// build` (in the cache), else what the target holds or can pull.
func (b *Builder) base(ctx context.Context, p *Plan) (*BaseImage, error) {
	key := p.Base + "|" + p.Platform
	if bi, ok := b.bases[key]; ok {
		return bi, nil
	}
	bi, err := LoadBase(b.opts.Store, p.Base)
	if err == nil && bi != nil && bi.Config.Architecture != platformArch(p.Platform) {
		bi = nil
	}
	if err != nil || bi == nil {
		bi, err = b.opts.Target.Base(ctx, p.Base, p.Platform)
		if err != nil {
			rec, _ := readRecord(b.opts.Store, BaseRef(p.Labels[LabelRuntime]))
			return nil, baseError(p, b.opts.Target.Name(), rec != nil, err)
		}
	}
	b.bases[key] = bi
	return bi, nil
}

// baseError explains a missing base image and what to do about it;
// offlineBuilt says the runtime's offline base is in the cache already.
func baseError(p *Plan, target string, offlineBuilt bool, err error) error {
	if !errors.Is(err, ErrBaseNotFound) {
		return fmt.Errorf("base image %s: %w", p.Base, err)
	}
	cause := strings.TrimPrefix(err.Error(), ErrBaseNotFound.Error()+": ")
	rt := p.Labels[LabelRuntime]
	if rt == "" {
		return fmt.Errorf("base image %s (the function's ImageUri) is not in %s and could not be pulled (%v); load it into %s first", p.Base, target, cause, target)
	}
	hint := fmt.Sprintf("set runtimes.%s in generator.yml to an image %s has", rt, target)
	switch {
	case OfflineRuntime(rt) && offlineBuilt:
		hint = fmt.Sprintf("this host has an offline base for it already: run `esb base build %s` in this project to record it in generator.yml, or %s", rt, hint)
	case OfflineRuntime(rt):
		hint = fmt.Sprintf("run `esb base build %s` to assemble one from this host's Debian packages (no network needed), or %s", rt, hint)
	}
	return fmt.Errorf("base image %s for runtime %s is not in %s and could not be pulled (%s); %s", p.Base, rt, target, cause, hint)
}

// goBuild runs the plan's host-side go build.
func (b *Builder) goBuild(ctx context.Context, p *Plan) error {
	dir := p.HostPath(p.Build.Dir)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("code directory %s/ does not exist (CodeUri; fix the path in the template)", p.Build.Dir)
	}
	if err := os.MkdirAll(filepath.Dir(p.HostPath(p.Build.Output)), 0o755); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	if _, err := exec.LookPath(b.opts.Go); err != nil {
		return fmt.Errorf("functions with BuildMethod go1.x need the Go toolchain, and %q is not on PATH; install Go", b.opts.Go)
	}
	cmd := exec.CommandContext(ctx, b.opts.Go, p.Build.Args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), p.Build.Env...)
	out, err := cmd.CombinedOutput()
	if b.opts.Verbose != nil && len(out) > 0 {
		b.opts.Verbose.Write(out)
	}
	if err != nil {
		return fmt.Errorf("go build in %s failed: %s", p.Build.Dir, firstLines(out, err))
	}
	return nil
}

// firstLines condenses a tool's output to one line: its first real line
// and how many more there are.
func firstLines(out []byte, err error) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "# ") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return err.Error()
	}
	s := lines[0]
	if len(lines) > 1 {
		s += fmt.Sprintf(" (and %d more lines; -v shows them)", len(lines)-1)
	}
	return s
}

// ensureRIE puts esb-rie for platform at dst: a copy of the prebuilt
// binary when it fits, else a build from the esb sources.
func (b *Builder) ensureRIE(ctx context.Context, platform, dst string) error {
	task := b.opts.Progress.Start("esb-rie")
	task.Step(platform)
	start := time.Now()
	arch := platformArch(platform)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		task.End()
		return fmt.Errorf("esb-rie: %w", err)
	}
	var how string
	switch {
	case b.opts.RIE.Binary != "" && arch == runtime.GOARCH:
		changed, err := copyIfChanged(b.opts.RIE.Binary, dst)
		if err != nil {
			task.End()
			return fmt.Errorf("esb-rie: %w", err)
		}
		how = "up to date, from " + b.opts.RIE.Binary
		if changed {
			how = "copied from " + b.opts.RIE.Binary
		}
	case b.opts.RIE.SourceDir != "":
		cmd := exec.CommandContext(ctx, b.opts.Go, "build", "-trimpath", "-ldflags=-s -w", "-o", dst, "./cmd/esb-rie")
		cmd.Dir = b.opts.RIE.SourceDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if out, err := cmd.CombinedOutput(); err != nil {
			task.End()
			return fmt.Errorf("build esb-rie for %s from %s: %s", platform, b.opts.RIE.SourceDir, firstLines(out, err))
		}
		how = "built from " + b.opts.RIE.SourceDir
	default:
		task.End()
		return fmt.Errorf("no esb-rie binary for %s: set ESB_RIE to one (`make esb-rie` builds bin/esb-rie), put it next to the esb binary, or run esb from its source tree", platform)
	}
	task.Done(fmt.Sprintf("esb-rie %s %s (%s)", platform, how, roundDur(time.Since(start))))
	return nil
}

// copyIfChanged copies src to dst (mode 0755) unless dst has the same bytes.
func copyIfChanged(src, dst string) (bool, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return false, err
	}
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, dst)
}

func platformArch(platform string) string {
	_, arch, _ := strings.Cut(platform, "/")
	return arch
}

// Summary is the image's progress line.
func (r Result) Summary(target string) string {
	var parts []string
	if r.Base == Scratch {
		parts = append(parts, "scratch")
	} else {
		parts = append(parts, "base "+r.Base+" ("+r.BaseSource+")")
	}
	if r.GoBuild > 0 {
		parts = append(parts, "go build "+roundDur(r.GoBuild).String())
	}
	for _, l := range r.Layers {
		what := string(l.Kind)
		if l.Kind == CopyLayer {
			what = "layer " + l.Name
		}
		if l.Reused {
			parts = append(parts, what+" reused")
		} else {
			parts = append(parts, what+" built "+humanSize(l.Size))
		}
	}
	switch {
	case r.Sent.UpToDate:
		parts = append(parts, "already in "+target)
	default:
		parts = append(parts, fmt.Sprintf("%s (%s, %s)", r.Sent.Verb, plural(r.Sent.Layers, "layer"), humanSize(r.Sent.Bytes)))
	}
	return fmt.Sprintf("%s  %s  %s  %s", r.Function, r.Ref, strings.Join(parts, " · "), roundDur(r.Elapsed))
}

func roundDur(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
