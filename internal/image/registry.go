package image

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RegistryTarget pushes images to a registry (CONTAINER_REGISTRY). Blobs the
// registry already has are not uploaded again. Base images come from esb's
// cache or from Local, which, when set, receives every image too (the local
// containerd, so this machine's agent needs no pull).
type RegistryTarget struct {
	registry string
	insecure bool
	opts     []remote.Option
	// Local holds base images and receives every image too; may be nil.
	Local Target
}

// NewRegistryTarget pushes to registry (host[:port][/path]). Credentials come
// from the Docker config (~/.docker/config.json), as for `docker push`.
// Registries on localhost use plain HTTP; insecure allows it elsewhere.
func NewRegistryTarget(registry string, insecure bool, local Target) *RegistryTarget {
	return &RegistryTarget{
		registry: registry, insecure: insecure, Local: local,
		opts: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithJobs(4)},
	}
}

// Name implements Target.
func (r *RegistryTarget) Name() string {
	if r.Local != nil {
		return "registry " + r.registry + " and " + r.Local.Name()
	}
	return "registry " + r.registry
}

// Close implements Target.
func (r *RegistryTarget) Close() error {
	if r.Local != nil {
		return r.Local.Close()
	}
	return nil
}

// Base implements Target.
func (r *RegistryTarget) Base(ctx context.Context, ref, platform string) (*BaseImage, error) {
	if r.Local == nil {
		return nil, fmt.Errorf("%w: only images built by `esb base build` or held by the local containerd can be bases when pushing", ErrBaseNotFound)
	}
	return r.Local.Base(ctx, ref, platform)
}

// Send implements Target: layers, config, then the manifest under the tag.
func (r *RegistryTarget) Send(ctx context.Context, img *Image) (Sent, error) {
	var nopts []name.Option
	if r.insecure {
		nopts = append(nopts, name.Insecure)
	}
	tag, err := name.NewTag(img.Ref, nopts...)
	if err != nil {
		return Sent{}, fmt.Errorf("image name %s: %w", img.Ref, err)
	}
	opts := append([]remote.Option{remote.WithContext(ctx)}, r.opts...)
	sent := Sent{Verb: "pushed to " + r.registry}
	if d, err := remote.Head(tag, opts...); err == nil && d.Digest.String() == img.ManifestDesc.Digest.String() && !img.Force {
		sent = Sent{UpToDate: true}
	} else {
		for _, l := range img.Layers {
			if l.Open == nil {
				return Sent{}, fmt.Errorf("layer %s of base image %s is not available to push", l.DiffID, img.BaseRef)
			}
			if err := remote.WriteLayer(tag.Repository, &pushLayer{ctx: ctx, l: l}, opts...); err != nil {
				return Sent{}, fmt.Errorf("push layer %s of %s: %w", l.DiffID, img.Ref, err)
			}
			sent.Layers++
			sent.Bytes += l.Desc.Size
		}
		if err := remote.WriteLayer(tag.Repository, static.NewLayer(img.Config, types.MediaType(img.ConfigDesc.MediaType)), opts...); err != nil {
			return Sent{}, fmt.Errorf("push config of %s: %w", img.Ref, err)
		}
		if err := remote.Put(tag, rawManifest{img}, opts...); err != nil {
			return Sent{}, fmt.Errorf("push %s: %w", img.Ref, err)
		}
	}
	if r.Local != nil {
		ls, err := r.Local.Send(ctx, img)
		if err != nil {
			return Sent{}, err
		}
		if !sent.UpToDate || !ls.UpToDate {
			sent.UpToDate = false
			sent.Verb += ", " + ls.Verb
		}
	}
	return sent, nil
}

// rawManifest is an image's manifest as remote.Put wants it.
type rawManifest struct{ img *Image }

func (m rawManifest) RawManifest() ([]byte, error) { return m.img.Manifest, nil }

func (m rawManifest) MediaType() (types.MediaType, error) {
	return types.MediaType(m.img.ManifestDesc.MediaType), nil
}

// pushLayer adapts a Layer to go-containerregistry's v1.Layer. The blob is
// uploaded as it is (Compressed is the blob, whatever its compression).
type pushLayer struct {
	ctx context.Context
	l   Layer
}

func (p *pushLayer) Digest() (v1.Hash, error) { return v1.NewHash(p.l.Desc.Digest.String()) }
func (p *pushLayer) DiffID() (v1.Hash, error) { return v1.NewHash(p.l.DiffID.String()) }
func (p *pushLayer) Compressed() (io.ReadCloser, error) {
	return p.l.Open(p.ctx)
}
func (p *pushLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("layer %s: uncompressed reads are not supported", p.l.DiffID)
}
func (p *pushLayer) Size() (int64, error) { return p.l.Desc.Size, nil }
func (p *pushLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(p.l.Desc.MediaType), nil
}
