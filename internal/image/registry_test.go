package image

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRegistryPush pushes built images to go-containerregistry's in-process
// registry, reads them back, and checks that an unchanged image is not
// pushed again while a code change uploads only the new layer.
func TestRegistryPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	dir, plans := testProject(t)
	plans = plans[:1] // the provided function: scratch, no base needed
	plans[0].Image = Reference(host, plans[0].Function, "t")
	target := NewRegistryTarget(host, true, nil)
	b := newTestBuilder(t, dir, target, false)
	ctx := context.Background()

	res, err := b.Build(ctx, plans)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Sent.UpToDate || res[0].Sent.Layers != 2 {
		t.Fatalf("first push: %+v", res[0].Sent)
	}
	ref, _ := name.ParseReference(plans[0].Image)
	img, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := img.ConfigName()
	if "sha256:"+id.Hex != res[0].ID {
		t.Errorf("pushed config %s, built %s", id, res[0].ID)
	}
	cfg, _ := img.ConfigFile()
	if strings.Join(cfg.Config.Entrypoint, " ") != RIEPath || strings.Join(cfg.Config.Cmd, " ") != "/var/task/bootstrap" {
		t.Errorf("pushed config %+v", cfg.Config)
	}
	layers, _ := img.Layers()
	rc, err := layers[1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if names := tarNames(t, data); len(names) != 3 || !strings.HasPrefix(names[2], "var/task/bootstrap 755") {
		t.Errorf("code layer %v", names)
	}

	again, err := b.Build(ctx, plans)
	if err != nil || !again[0].Sent.UpToDate {
		t.Fatalf("unchanged image: %+v %v", again[0].Sent, err)
	}
	writeFiles(t, dir, map[string]string{"bin/bootstrap": "#!/bin/sh\necho 2\n"})
	changed, err := b.Build(ctx, plans)
	if err != nil || changed[0].Sent.UpToDate || changed[0].ID == res[0].ID {
		t.Fatalf("changed image: %+v %v", changed[0], err)
	}
	if d, err := remote.Head(ref); err != nil || d.Digest.String() == "" {
		t.Errorf("head after the change: %v", err)
	}
}
