package cli

import (
	"context"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/docker/docker/client"

	ctrd "github.com/edgeserverlessbox/esb/internal/agent/containerd"
	"github.com/edgeserverlessbox/esb/internal/image"
	"github.com/edgeserverlessbox/esb/internal/project"
)

// imageIDs returns the content id of each image the runtime holds under the
// plans' names (missing images are left out), so esb up can tell which images
// a build changed although their names (tags) stayed the same.
func imageIDs(ctx context.Context, mode string, plans []*image.Plan) map[string]string {
	out := map[string]string{}
	if len(plans) == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if mode == project.ModeContainerd {
		c, err := containerd.New(envOr("CONTAINERD_ADDRESS", ctrd.DefaultAddress), containerd.WithTimeout(3*time.Second))
		if err != nil {
			return out
		}
		defer c.Close()
		ctx = namespaces.WithNamespace(ctx, envOr("CONTAINERD_NAMESPACE", ctrd.DefaultNamespace))
		for _, p := range plans {
			for _, name := range []string{p.Image, "docker.io/library/" + p.Image} {
				if img, err := c.ImageService().Get(ctx, name); err == nil {
					out[p.Function] = img.Target.Digest.String()
					break
				}
			}
		}
		return out
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return out
	}
	defer cli.Close()
	for _, p := range plans {
		if info, err := cli.ImageInspect(ctx, p.Image); err == nil {
			out[p.Function] = info.ID
		}
	}
	return out
}

// changedImages names the functions whose image id differs between two
// imageIDs snapshots (functions new in after do not count: they have no
// workers yet).
func changedImages(before, after map[string]string) []string {
	var out []string
	for fn, id := range after {
		if old, ok := before[fn]; ok && old != id {
			out = append(out, fn)
		}
	}
	return out
}

func joinNames(names []string) string { return strings.Join(names, ", ") }
