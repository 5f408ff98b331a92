package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	"github.com/containerd/containerd/reference/docker"
	cerrdefs "github.com/containerd/errdefs"
	clog "github.com/containerd/log"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// ContainerdTarget imports images into a containerd namespace: it writes
// only the blobs the content store lacks, creates or updates the image
// record and unpacks the image for the snapshotter, so the agent's first
// start does not pay for it.
type ContainerdTarget struct {
	cli         *containerd.Client
	address     string
	namespace   string
	snapshotter string
	pullBase    bool
}

// ContainerdOptions configure a ContainerdTarget.
type ContainerdOptions struct {
	// Address is containerd's socket (CONTAINERD_ADDRESS).
	Address string
	// Namespace is where images go (CONTAINERD_NAMESPACE, the agent's: "esb").
	Namespace string
	// Snapshotter unpacks images ("" = containerd's default).
	Snapshotter string
	// PullBase lets the target pull a base image it does not have.
	PullBase bool
}

// DefaultContainerdAddress is containerd's usual socket.
const DefaultContainerdAddress = "/run/containerd/containerd.sock"

// DefaultNamespace is the containerd namespace of esb's images and workers.
const DefaultNamespace = "esb"

// NewContainerdTarget connects to containerd and fails with a one-line
// error when it does not answer.
func NewContainerdTarget(ctx context.Context, o ContainerdOptions) (*ContainerdTarget, error) {
	if o.Address == "" {
		o.Address = DefaultContainerdAddress
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if _, err := os.Stat(o.Address); err != nil {
		return nil, fmt.Errorf("containerd is not running at %s (%s); start it, or set CONTAINERD_ADDRESS", o.Address, oneLine(err))
	}
	cli, err := containerd.New(o.Address, containerd.WithDefaultNamespace(o.Namespace), containerd.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd is not running at %s (%s); start it, or set CONTAINERD_ADDRESS", o.Address, oneLine(err))
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Version(vctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("containerd at %s does not answer (%s); is it running, and may this user use its socket?", o.Address, oneLine(err))
	}
	return &ContainerdTarget{cli: cli, address: o.Address, namespace: o.Namespace, snapshotter: o.Snapshotter, pullBase: o.PullBase}, nil
}

// Name implements Target.
func (c *ContainerdTarget) Name() string { return "containerd namespace " + c.namespace }

// Close implements Target.
func (c *ContainerdTarget) Close() error { return c.cli.Close() }

func (c *ContainerdTarget) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.namespace)
}

// normalize turns esb-hello:latest into docker.io/library/esb-hello:latest,
// the name containerd's own import and the agent use.
func normalize(ref string) string {
	if n, err := docker.ParseDockerRef(ref); err == nil {
		return n.String()
	}
	return ref
}

// getImage finds an image as named or normalised.
func (c *ContainerdTarget) getImage(ctx context.Context, ref string) (images.Image, error) {
	is := c.cli.ImageService()
	img, err := is.Get(ctx, ref)
	if cerrdefs.IsNotFound(err) && normalize(ref) != ref {
		img, err = is.Get(ctx, normalize(ref))
	}
	return img, err
}

// Base implements Target: the base's manifest and config come from the
// content store; its layers are read from there only when pushing.
func (c *ContainerdTarget) Base(ctx context.Context, ref, platform string) (*BaseImage, error) {
	ctx = c.ns(ctx)
	rec, err := c.getImage(ctx, ref)
	if cerrdefs.IsNotFound(err) && c.pullBase {
		p, perr := platforms.Parse(platform)
		if perr != nil {
			return nil, perr
		}
		pctx, cancel := context.WithTimeout(quiet(ctx), 10*time.Minute)
		img, perr := c.cli.Pull(pctx, normalize(ref), containerd.WithPlatformMatcher(platforms.Only(p)))
		cancel()
		if perr != nil {
			return nil, fmt.Errorf("%w: %s", ErrBaseNotFound, oneLine(perr))
		}
		rec = img.Metadata()
		err = nil
	}
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: not in containerd namespace %s", ErrBaseNotFound, c.namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s in containerd: %w", ref, err)
	}
	p, err := platforms.Parse(platform)
	if err != nil {
		return nil, err
	}
	cs := c.cli.ContentStore()
	m, err := images.Manifest(ctx, cs, rec.Target, platforms.Only(p))
	if err != nil {
		return nil, fmt.Errorf("read %s from containerd: %w", ref, err)
	}
	raw, err := content.ReadBlob(ctx, cs, m.Config)
	if err != nil {
		return nil, fmt.Errorf("read config of %s from containerd: %w", ref, err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("read config of %s from containerd: %w", ref, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image %s in containerd has %d layers but %d diff IDs", ref, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	bi := &BaseImage{Ref: ref, Config: cfg, Source: "containerd"}
	for i, desc := range m.Layers {
		desc := desc
		bi.Layers = append(bi.Layers, Layer{DiffID: cfg.RootFS.DiffIDs[i], Desc: desc, Open: func(ctx context.Context) (io.ReadCloser, error) {
			ra, err := cs.ReaderAt(c.ns(ctx), desc)
			if err != nil {
				return nil, err
			}
			return readCloser{Reader: content.NewReader(ra), Closer: ra}, nil
		}})
	}
	return bi, nil
}

// quiet keeps containerd's client library (its resolver logs every
// registry it tries) from writing into esb's output.
func quiet(ctx context.Context) context.Context {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return clog.WithLogger(ctx, logrus.NewEntry(l))
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Send implements Target.
func (c *ContainerdTarget) Send(ctx context.Context, img *Image) (Sent, error) {
	ctx = c.ns(ctx)
	name := normalize(img.Ref)
	is := c.cli.ImageService()
	if old, err := is.Get(ctx, name); err == nil && old.Target.Digest == img.ManifestDesc.Digest && !img.Force {
		if ok, _ := containerd.NewImageWithPlatform(c.cli, old, c.platform(img)).IsUnpacked(ctx, c.snapshotter); ok {
			return Sent{UpToDate: true}, nil
		}
	}
	ctx, done, err := c.cli.WithLease(ctx)
	if err != nil {
		return Sent{}, fmt.Errorf("import %s into containerd: %w", img.Ref, err)
	}
	defer done(context.WithoutCancel(ctx))
	sent := Sent{Verb: "imported into containerd"}
	cs := c.cli.ContentStore()
	write := func(desc ocispec.Descriptor, open func() (io.ReadCloser, error), labels map[string]string) (bool, error) {
		if _, err := cs.Info(ctx, desc.Digest); err == nil {
			if labels != nil {
				_, err = cs.Update(ctx, content.Info{Digest: desc.Digest, Labels: labels}, labelFields(labels)...)
			}
			return false, err
		}
		rc, err := open()
		if err != nil {
			return false, err
		}
		defer rc.Close()
		var opts []content.Opt
		if labels != nil {
			opts = append(opts, content.WithLabels(labels))
		}
		err = content.WriteBlob(ctx, cs, "esb-"+desc.Digest.Encoded(), rc, desc, opts...)
		if cerrdefs.IsAlreadyExists(err) {
			return false, nil
		}
		return err == nil, err
	}
	for _, l := range img.Layers {
		l := l
		if l.Open == nil {
			if _, err := cs.Info(ctx, l.Desc.Digest); err != nil {
				return Sent{}, fmt.Errorf("layer %s of base image %s is not in containerd; build again", l.DiffID, img.BaseRef)
			}
			continue
		}
		wrote, err := write(l.Desc, func() (io.ReadCloser, error) { return l.Open(ctx) }, nil)
		if err != nil {
			return Sent{}, fmt.Errorf("import layer %s of %s into containerd: %w", l.DiffID, img.Ref, err)
		}
		if wrote {
			sent.Layers++
			sent.Bytes += l.Desc.Size
		}
	}
	bytesOf := func(b []byte) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	if _, err := write(img.ConfigDesc, bytesOf(img.Config), nil); err != nil {
		return Sent{}, fmt.Errorf("import config of %s into containerd: %w", img.Ref, err)
	}
	// The manifest's labels keep its config and layers from containerd's
	// garbage collector.
	labels := map[string]string{"containerd.io/gc.ref.content.config": img.ConfigDesc.Digest.String()}
	for i, l := range img.Layers {
		labels["containerd.io/gc.ref.content.l."+strconv.Itoa(i)] = l.Desc.Digest.String()
	}
	if _, err := write(img.ManifestDesc, bytesOf(img.Manifest), labels); err != nil {
		return Sent{}, fmt.Errorf("import manifest of %s into containerd: %w", img.Ref, err)
	}
	rec := images.Image{Name: name, Target: img.ManifestDesc, Labels: map[string]string{LabelManaged: "true"}}
	if _, err := is.Create(ctx, rec); cerrdefs.IsAlreadyExists(err) {
		_, err = is.Update(ctx, rec, "target", "labels."+LabelManaged)
		if err != nil {
			return Sent{}, fmt.Errorf("tag %s in containerd: %w", name, err)
		}
	} else if err != nil {
		return Sent{}, fmt.Errorf("tag %s in containerd: %w", name, err)
	}
	if err := containerd.NewImageWithPlatform(c.cli, rec, c.platform(img)).Unpack(ctx, c.snapshotter); err != nil {
		return Sent{}, fmt.Errorf("unpack %s in containerd: %w", name, err)
	}
	return sent, nil
}

func (c *ContainerdTarget) platform(img *Image) platforms.MatchComparer {
	if p, err := platforms.Parse(img.Platform); err == nil {
		return platforms.Only(p)
	}
	return platforms.Default()
}

func labelFields(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for k := range labels {
		out = append(out, "labels."+k)
	}
	return out
}
