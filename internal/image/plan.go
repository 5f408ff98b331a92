// Package image describes and renders the container image of each function.
//
// A Plan is the single description of what goes into a function image: the
// base image for its runtime, a host-side code build step (Go), the files
// copied in (esb-rie, layers into /opt, code into /var/task), the entrypoint,
// the handler command and the labels. The Dockerfile under
// <output_dir>/functions/<name>/ is rendered from the Plan, and the native
// image builder builds from the same Plan, so the two cannot drift apart.
package image

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/manifest"
)

// Paths inside every function image (docs/contracts.md).
const (
	RIEPath  = "/usr/local/bin/esb-rie"
	TaskRoot = "/var/task"
	OptDir   = "/opt"
)

// Scratch is the base of images that need no operating system (provided.* runtimes).
const Scratch = "scratch"

// Labels on every image esb builds.
const (
	LabelManaged  = "esb.managed"
	LabelFunction = "esb.function"
	LabelProject  = "esb.project"
	LabelRuntime  = "esb.runtime"
)

// CopyKind says what a copied directory or file is.
type CopyKind string

// Kinds of copies, in the order they appear in an image.
const (
	CopyRIE   CopyKind = "esb-rie"
	CopyLayer CopyKind = "layer"
	CopyCode  CopyKind = "code"
)

// Copy puts a host directory's contents (or one file) into the image.
type Copy struct {
	Kind CopyKind
	// Name is the layer's name for CopyLayer.
	Name string
	// Src is relative to Plan.ContextDir, with forward slashes; a trailing
	// slash marks a directory whose contents are copied.
	Src string
	// Dest is the absolute path in the image; a trailing slash marks a directory.
	Dest string
}

// GoBuild is a host-side `go build` that produces a function's bootstrap
// before the image is built (Metadata.BuildMethod go1.x).
type GoBuild struct {
	// Dir is the package directory, relative to Plan.ContextDir.
	Dir string
	// Output is the bootstrap path, relative to Plan.ContextDir.
	Output string
	// Env is added to the build's environment (GOOS, GOARCH, CGO_ENABLED).
	Env []string
	// Args are the go command's arguments, run in Dir; the output path in them
	// is relative to Dir.
	Args []string
}

// Plan is everything needed to build one function's image.
type Plan struct {
	// Function is the function name (key of functions.yml).
	Function string
	// Image is the reference the image is tagged with (esb-<function>:<tag>).
	Image string
	// Base is the image to start from, or Scratch.
	Base string
	// Platform is the OCI platform, "linux/amd64" or "linux/arm64".
	Platform string
	// ContextDir is the absolute build context directory (the template's
	// directory); every Src is relative to it.
	ContextDir string
	// DockerfilePath is where the rendered Dockerfile goes, relative to ContextDir.
	DockerfilePath string
	// Build, when set, runs on the host before the image is assembled.
	Build *GoBuild
	// Copies are applied in order: esb-rie, then layers (into /opt, later
	// layers overwrite earlier ones), then the code (into /var/task).
	Copies []Copy
	// WorkDir is the working directory of the function process.
	WorkDir string
	// Env are NAME=value pairs set in the image (over the base's).
	Env []string
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD.
	Entrypoint []string
	Cmd        []string
	// InheritCmd means the base image's ENTRYPOINT and CMD become esb-rie's
	// arguments (PackageType Image without ImageConfig); the builder reads
	// them from the base image.
	InheritCmd bool
	// Labels are set on the image.
	Labels map[string]string
}

// Config is what planning needs besides the functions themselves.
type Config struct {
	// Project is the project name (label esb.project).
	Project string
	// Tag is the image tag (generator.yml app.tag).
	Tag string
	// Registry, when set, prefixes image names (CONTAINER_REGISTRY).
	Registry string
	// Runtimes maps a runtime to its base image (generator.yml runtimes);
	// missing runtimes use DefaultBase.
	Runtimes map[string]string
	// ContextDir is the absolute directory of the template.
	ContextDir string
	// OutputDir is the absolute output directory (generator.yml paths.output_dir).
	OutputDir string
}

// DefaultBase is the base image of a runtime when generator.yml names none:
// AWS's public Lambda base images for python and nodejs, scratch for provided.
func DefaultBase(runtime string) string {
	switch {
	case strings.HasPrefix(runtime, "python"):
		return "public.ecr.aws/lambda/python:" + strings.TrimPrefix(runtime, "python")
	case strings.HasPrefix(runtime, "nodejs"):
		return "public.ecr.aws/lambda/nodejs:" + strings.TrimSuffix(strings.TrimPrefix(runtime, "nodejs"), ".x")
	}
	return Scratch
}

// Reference is the image reference of a function: [registry/]esb-<name>:<tag>,
// with the name lower-cased and reduced to the characters image names allow.
func Reference(registry, function, tag string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(function) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if tag == "" {
		tag = "latest"
	}
	ref := "esb-" + strings.Trim(b.String(), "-._") + ":" + tag
	if registry != "" {
		ref = strings.TrimSuffix(registry, "/") + "/" + ref
	}
	return ref
}

// Platform maps a Lambda architecture to an OCI platform.
func Platform(arch string) string {
	if arch == "arm64" {
		return "linux/arm64"
	}
	return "linux/amd64"
}

// RIESource is where the image builder puts the esb-rie binary for a
// platform, relative to the output directory.
func RIESource(platform string) string {
	return "bin/" + strings.ReplaceAll(platform, "/", "-") + "/esb-rie"
}

// FunctionDir is a function's directory under the output directory.
func FunctionDir(function string) string { return "functions/" + function }

// NewPlans plans every function, in name order.
func NewPlans(fns manifest.Functions, cfg Config) ([]*Plan, error) {
	names := make([]string, 0, len(fns.Functions))
	for n := range fns.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	plans := make([]*Plan, 0, len(names))
	for _, n := range names {
		p, err := NewPlan(n, fns.Functions[n], cfg)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// NewPlan plans the image of one function.
func NewPlan(name string, fn manifest.Function, cfg Config) (*Plan, error) {
	rel := func(abs string) (string, error) {
		r, err := filepath.Rel(cfg.ContextDir, abs)
		if err != nil {
			return "", fmt.Errorf("plan image of %s: %w", name, err)
		}
		r = filepath.ToSlash(r)
		if r == ".." || strings.HasPrefix(r, "../") {
			return "", fmt.Errorf("plan image of %s: output directory %s is outside the template directory %s (docker cannot copy from there); set paths.output_dir inside it", name, cfg.OutputDir, cfg.ContextDir)
		}
		return r, nil
	}
	arch := "x86_64"
	if len(fn.Architectures) > 0 {
		arch = fn.Architectures[0]
	}
	p := &Plan{
		Function:   name,
		Image:      Reference(cfg.Registry, name, cfg.Tag),
		Platform:   Platform(arch),
		ContextDir: cfg.ContextDir,
		WorkDir:    TaskRoot,
		Entrypoint: []string{RIEPath},
		Labels: map[string]string{
			LabelManaged:  "true",
			LabelFunction: name,
			LabelProject:  cfg.Project,
		},
	}
	fnDir, err := rel(filepath.Join(cfg.OutputDir, filepath.FromSlash(FunctionDir(name))))
	if err != nil {
		return nil, err
	}
	p.DockerfilePath = fnDir + "/Dockerfile"
	rie, err := rel(filepath.Join(cfg.OutputDir, filepath.FromSlash(RIESource(p.Platform))))
	if err != nil {
		return nil, err
	}
	p.Copies = append(p.Copies, Copy{Kind: CopyRIE, Src: rie, Dest: RIEPath})

	if fn.PackageType == "Image" {
		p.Base = fn.ImageURI
		if ic := fn.ImageConfig; ic != nil && (len(ic.EntryPoint) > 0 || len(ic.Command) > 0) {
			p.Cmd = append(append([]string(nil), ic.EntryPoint...), ic.Command...)
		} else {
			p.InheritCmd = true
		}
		if fn.ImageConfig != nil && fn.ImageConfig.WorkingDirectory != "" {
			p.WorkDir = fn.ImageConfig.WorkingDirectory
		}
		return p, nil
	}

	p.Labels[LabelRuntime] = fn.Runtime
	p.Env = []string{"LAMBDA_TASK_ROOT=" + TaskRoot}
	p.Base = cfg.Runtimes[fn.Runtime]
	if p.Base == "" {
		p.Base = DefaultBase(fn.Runtime)
	}
	for _, l := range fn.Layers {
		p.Copies = append(p.Copies, Copy{Kind: CopyLayer, Name: l.Name, Src: dirSrc(l.ContentURI), Dest: OptDir + "/"})
	}
	code := dirSrc(fn.CodeURI)
	if fn.BuildMethod == "go1.x" {
		out := fnDir + "/build/bootstrap"
		outFromDir, err := filepath.Rel(filepath.FromSlash(fn.CodeURI), filepath.FromSlash(out))
		if err != nil {
			return nil, fmt.Errorf("plan image of %s: %w", name, err)
		}
		goarch := "amd64"
		if arch == "arm64" {
			goarch = "arm64"
		}
		p.Build = &GoBuild{
			Dir:    strings.TrimSuffix(fn.CodeURI, "/"),
			Output: out,
			Env:    []string{"GOOS=linux", "GOARCH=" + goarch, "CGO_ENABLED=0"},
			Args:   []string{"build", "-trimpath", "-tags", "lambda.norpc", "-o", filepath.ToSlash(outFromDir), "."},
		}
		code = fnDir + "/build/"
	}
	p.Copies = append(p.Copies, Copy{Kind: CopyCode, Src: code, Dest: TaskRoot + "/"})
	if strings.HasPrefix(fn.Runtime, "provided") {
		p.Cmd = []string{TaskRoot + "/bootstrap"}
	} else {
		p.Cmd = []string{"--runtime", fn.Runtime, fn.Handler}
	}
	return p, nil
}

// dirSrc is a context-relative directory source with a trailing slash.
func dirSrc(dir string) string {
	d := path.Clean(filepath.ToSlash(dir))
	if d == "." {
		return "./"
	}
	return d + "/"
}

// HostPath is the absolute host path of a context-relative source.
func (p *Plan) HostPath(src string) string {
	return filepath.Join(p.ContextDir, filepath.FromSlash(src))
}
