package image

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dimage "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DockerTarget loads images into a Docker Engine with the image load API
// (a docker-archive tar, streamed). Layers the engine already has (those of
// the base image and of the image's previous build) are left out of the
// archive: the engine looks a layer up by its chain ID before it reads the
// file, so only new layers cross the socket.
type DockerTarget struct {
	cli         *client.Client
	pullBase    bool // pull missing base images
	pullTimeout time.Duration

	mu sync.Mutex
	// loaded are the layer lists of images this target loaded or found:
	// the engine has every prefix of them.
	loaded [][]string
}

// DockerOptions configure a DockerTarget.
type DockerOptions struct {
	// Host is the engine address (DOCKER_HOST); empty: the default socket.
	Host string
	// PullBase lets the target pull a base image the engine does not have.
	PullBase bool
	// PullTimeout bounds a base image pull (default 10 minutes).
	PullTimeout time.Duration
}

// NewDockerTarget connects to the Docker Engine, negotiating the API version
// (Engine 20.10, API 1.41, works), and fails with a one-line error when the
// engine does not answer.
func NewDockerTarget(ctx context.Context, o DockerOptions) (*DockerTarget, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if o.Host != "" {
		opts = append(opts, client.WithHost(o.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker is not running at %s (%s); start it, set DOCKER_HOST, or use ESB_MODE=containerd", cli.DaemonHost(), oneLine(err))
	}
	cli.NegotiateAPIVersion(ctx)
	if o.PullTimeout <= 0 {
		o.PullTimeout = 10 * time.Minute
	}
	return &DockerTarget{cli: cli, pullBase: o.PullBase, pullTimeout: o.PullTimeout}, nil
}

// Name implements Target.
func (d *DockerTarget) Name() string { return "docker" }

// Close implements Target.
func (d *DockerTarget) Close() error { return d.cli.Close() }

// Base implements Target: the base's config and layer IDs come from the
// engine (its layers never need to be read: they are already there).
func (d *DockerTarget) Base(ctx context.Context, ref, platform string) (*BaseImage, error) {
	ins, err := d.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) && d.pullBase {
		if perr := d.pull(ctx, ref); perr != nil {
			return nil, fmt.Errorf("%w: %s", ErrBaseNotFound, oneLine(perr))
		}
		ins, err = d.cli.ImageInspect(ctx, ref)
	}
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: not in docker", ErrBaseNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect %s in docker: %w", ref, err)
	}
	var cfg ocispec.Image
	cfg.OS, cfg.Architecture = ins.Os, ins.Architecture
	if ins.Config != nil {
		c := ins.Config
		cfg.Config = ocispec.ImageConfig{
			User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir,
			Labels: c.Labels, StopSignal: c.StopSignal,
		}
		if len(c.ExposedPorts) > 0 {
			cfg.Config.ExposedPorts = map[string]struct{}{}
			for p := range c.ExposedPorts {
				cfg.Config.ExposedPorts[string(p)] = struct{}{}
			}
		}
		if len(c.Volumes) > 0 {
			cfg.Config.Volumes = c.Volumes
		}
	}
	cfg.RootFS.Type = "layers"
	bi := &BaseImage{Ref: ref, Source: "docker"}
	for _, l := range ins.RootFS.Layers {
		dg, err := digest.Parse(l)
		if err != nil {
			return nil, fmt.Errorf("inspect %s in docker: layer %q: %w", ref, l, err)
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, dg)
		bi.Layers = append(bi.Layers, Layer{DiffID: dg, Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: dg}})
	}
	// Docker's inspect does not carry the history; leave it out.
	bi.Config = cfg
	return bi, nil
}

func (d *DockerTarget) pull(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, d.pullTimeout)
	defer cancel()
	rc, err := d.cli.ImagePull(ctx, ref, dimage.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	return readJSONMessages(rc)
}

// Send implements Target.
func (d *DockerTarget) Send(ctx context.Context, img *Image) (Sent, error) {
	prev, err := d.cli.ImageInspect(ctx, img.Ref)
	if err == nil && prev.ID == img.ID() && !img.Force {
		d.remember(prev.RootFS.Layers)
		return Sent{UpToDate: true}, nil
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return Sent{}, fmt.Errorf("inspect %s in docker: %w", img.Ref, err)
	}
	// Layers the engine has: the longest prefix this image shares with its
	// previous build, its base or an image loaded before in this build.
	have := 0
	if err == nil {
		have = commonPrefix(img.DiffIDs(), prev.RootFS.Layers)
	}
	d.mu.Lock()
	for _, l := range d.loaded {
		have = max(have, commonPrefix(img.DiffIDs(), l))
	}
	d.mu.Unlock()
	if img.BaseRef != "" {
		if b, err := d.cli.ImageInspect(ctx, img.BaseRef); err == nil {
			have = max(have, commonPrefix(img.DiffIDs(), b.RootFS.Layers))
		}
	}
	for i := have; i < len(img.Layers); i++ {
		if img.Layers[i].Open == nil {
			return Sent{}, fmt.Errorf("layer %s of base image %s is not in docker any more; build again", img.Layers[i].DiffID, img.BaseRef)
		}
	}

	pr, pw := io.Pipe()
	sent := Sent{Verb: "loaded into docker"}
	go func() { pw.CloseWithError(writeDockerArchive(ctx, pw, img, have, &sent)) }()
	resp, err := d.cli.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	if err != nil {
		pr.CloseWithError(err)
		return Sent{}, fmt.Errorf("load %s into docker: %w", img.Ref, err)
	}
	defer resp.Body.Close()
	if err := readJSONMessages(resp.Body); err != nil {
		pr.CloseWithError(err)
		return Sent{}, fmt.Errorf("load %s into docker: %w", img.Ref, err)
	}
	pr.Close()
	ids := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		ids[i] = l.DiffID.String()
	}
	d.remember(ids)
	// The previous image esb built under this name is now untagged: remove
	// it unless a container still uses it (as `docker build` would leave it
	// dangling otherwise).
	if prev.ID != "" && prev.ID != img.ID() && prev.Config != nil && prev.Config.Labels[LabelManaged] == "true" {
		_, _ = d.cli.ImageRemove(ctx, prev.ID, dimage.RemoveOptions{PruneChildren: true})
	}
	return sent, nil
}

// remember notes that the engine has an image with these layers.
func (d *DockerTarget) remember(layers []string) {
	d.mu.Lock()
	d.loaded = append(d.loaded, layers)
	d.mu.Unlock()
}

// writeDockerArchive writes img as a `docker save` archive, without the
// first skip layers' files.
func writeDockerArchive(ctx context.Context, w io.Writer, img *Image, skip int, sent *Sent) error {
	tw := tar.NewWriter(w)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: epoch(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	configName := img.ConfigDesc.Digest.Encoded() + ".json"
	if err := add(configName, int64(len(img.Config)), strings.NewReader(string(img.Config))); err != nil {
		return err
	}
	names := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		names[i] = l.DiffID.Encoded() + ".tar"
		if i < skip {
			continue
		}
		rc, err := l.Open(ctx)
		if err != nil {
			return fmt.Errorf("read layer %s: %w", l.DiffID, err)
		}
		err = add(names[i], l.Desc.Size, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("send layer %s: %w", l.DiffID, err)
		}
		sent.Layers++
		sent.Bytes += l.Desc.Size
	}
	mj, err := json.Marshal([]struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{Config: configName, RepoTags: []string{img.Ref}, Layers: names}})
	if err != nil {
		return err
	}
	if err := add("manifest.json", int64(len(mj)), strings.NewReader(string(mj))); err != nil {
		return err
	}
	return tw.Close()
}

// readJSONMessages reads the engine's progress stream and returns its error.
func readJSONMessages(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
	return sc.Err()
}

// commonPrefix counts the leading layers ids and have share.
func commonPrefix(ids []digest.Digest, have []string) int {
	n := 0
	for n < len(ids) && n < len(have) && ids[n].String() == have[n] {
		n++
	}
	return n
}

// oneLine shortens an error to its first line.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
