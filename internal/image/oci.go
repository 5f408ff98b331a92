package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Layer is one layer of a built image.
type Layer struct {
	// DiffID is the digest of the uncompressed tar (the image config's rootfs).
	DiffID digest.Digest
	// Desc describes the blob as the manifest lists it; for layers esb
	// writes it is the uncompressed tar itself, for base layers taken from
	// containerd it may be compressed.
	Desc ocispec.Descriptor
	// Open reads the blob (Desc's bytes). Nil when only the target holds the
	// bytes (a base image's layers already in Docker).
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Image is a composed image, ready to be handed to a target.
type Image struct {
	// Ref is the reference the image is tagged with.
	Ref string
	// BaseRef is the base image reference ("" for scratch).
	BaseRef string
	// Platform is "linux/amd64" or "linux/arm64".
	Platform string
	Config   []byte
	// ConfigDesc describes Config; its digest is the image ID in Docker.
	ConfigDesc ocispec.Descriptor
	Manifest   []byte
	// ManifestDesc describes Manifest.
	ManifestDesc ocispec.Descriptor
	// Layers are base layers first, then the plan's.
	Layers []Layer
	// Force sends the image even when the target has it (--no-cache).
	Force bool
}

// ID is the image ID as Docker shows it (the config's digest).
func (img *Image) ID() string { return img.ConfigDesc.Digest.String() }

// DiffIDs lists the layers' diff IDs in order.
func (img *Image) DiffIDs() []digest.Digest {
	out := make([]digest.Digest, len(img.Layers))
	for i, l := range img.Layers {
		out[i] = l.DiffID
	}
	return out
}

// BaseImage is what a function image starts from.
type BaseImage struct {
	Ref    string
	Config ocispec.Image
	Layers []Layer
	// Source says where it was found, for progress output ("cache", "docker", …).
	Source string
}

// storeLayer is a Layer whose bytes are an uncompressed tar in the store.
func storeLayer(s *Store, b Blob) Layer {
	p := s.Path(b.Digest)
	return Layer{
		DiffID: b.Digest,
		Desc:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: b.Digest, Size: b.Size},
		Open:   func(context.Context) (io.ReadCloser, error) { return os.Open(p) },
	}
}

// imageSpec is what a plan adds on top of its base.
type imageSpec struct {
	ref        string
	platform   string
	entrypoint []string
	cmd        []string
	inheritCmd bool
	workDir    string
	env        []string
	labels     map[string]string
	history    []string // created_by of each added layer
}

// compose makes the image config and manifest from a base (nil: scratch),
// the layers the plan adds and what the plan sets.
func compose(base *BaseImage, added []Layer, s imageSpec) (*Image, error) {
	osName, arch, _ := strings.Cut(s.platform, "/")
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: osName, Architecture: arch}}
	created := epoch()
	cfg.Created = &created
	var layers []Layer
	if base != nil {
		bc := base.Config
		cfg.Config = bc.Config
		// Copy what compose changes so the base's config stays intact.
		cfg.Config.Env = append([]string(nil), bc.Config.Env...)
		cfg.Config.Labels = make(map[string]string, len(bc.Config.Labels)+len(s.labels))
		for k, v := range bc.Config.Labels {
			cfg.Config.Labels[k] = v
		}
		if bc.Architecture != "" && bc.Architecture != arch {
			return nil, fmt.Errorf("base image %s is for %s/%s, the function is for %s; set a base image of that platform in generator.yml runtimes", base.Ref, bc.OS, bc.Architecture, s.platform)
		}
		if nonEmptyHistory(bc.History) == len(bc.RootFS.DiffIDs) {
			cfg.History = append(cfg.History, bc.History...)
		} else {
			// Docker's inspect does not show the history: one entry per
			// base layer keeps the history matching the layers.
			for range bc.RootFS.DiffIDs {
				cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: "FROM " + base.Ref})
			}
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, bc.RootFS.DiffIDs...)
		layers = append(layers, base.Layers...)
	}
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	cfg.RootFS.Type = "layers"
	if s.inheritCmd {
		s.cmd = append(append([]string(nil), cfg.Config.Entrypoint...), cfg.Config.Cmd...)
	}
	cfg.Config.Entrypoint = s.entrypoint
	cfg.Config.Cmd = s.cmd
	if s.workDir != "" {
		cfg.Config.WorkingDir = s.workDir
	}
	cfg.Config.Env = mergeEnv(cfg.Config.Env, s.env)
	for k, v := range s.labels {
		cfg.Config.Labels[k] = v
	}
	if len(cfg.Config.Labels) == 0 {
		cfg.Config.Labels = nil
	}
	for i := range added {
		h := ocispec.History{Created: &created, CreatedBy: "esb build"}
		if i < len(s.history) {
			h.CreatedBy = s.history[i]
		}
		cfg.History = append(cfg.History, h)
	}
	for _, l := range added {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	layers = append(layers, added...)

	cj, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode image config of %s: %w", s.ref, err)
	}
	img, err := imageFromConfig(s.ref, s.platform, cj, layers)
	if err != nil {
		return nil, err
	}
	if base != nil {
		img.BaseRef = base.Ref
	}
	return img, nil
}

func imageFromConfig(ref, platform string, config []byte, layers []Layer) (*Image, error) {
	img := &Image{Ref: ref, Platform: platform, Config: config, Layers: layers}
	img.ConfigDesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	return img, img.makeManifest()
}

// makeManifest sets the image's manifest from its config and layers.
func (img *Image) makeManifest() error {
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: img.ConfigDesc}
	for _, l := range img.Layers {
		m.Layers = append(m.Layers, l.Desc)
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode image manifest of %s: %w", img.Ref, err)
	}
	img.Manifest = mj
	img.ManifestDesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mj), Size: int64(len(mj))}
	return nil
}

func nonEmptyHistory(h []ocispec.History) int {
	n := 0
	for _, e := range h {
		if !e.EmptyLayer {
			n++
		}
	}
	return n
}

// mergeEnv sets each NAME=value of add in env, replacing an existing NAME.
func mergeEnv(env, add []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range add {
		name, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if n, _, _ := strings.Cut(old, "="); n == name {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}
