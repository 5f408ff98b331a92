// Package agenttest builds the agent tests' worker image (FROM scratch, a
// static Go server behaving like esb-rie) and loads it into Docker Engine and
// containerd without any registry.
package agenttest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/docker/docker/client"
)

// Image tags the tests use.
const (
	// WorkerImage serves like esb-rie.
	WorkerImage = "esb-agent-test-worker:latest"
	// ExitImage's entrypoint prints a line to each stream and exits with code 3.
	ExitImage = "esb-agent-test-exit:latest"
	// OnceImage prints its listening line and exits 0 (benchmark baseline).
	OnceImage = "esb-agent-test-once:latest"
)

// BuildWorker compiles the worker as a static binary into dir and returns its path.
func BuildWorker(ctx context.Context, dir string) (string, error) {
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "worker")
	out := filepath.Join(dir, "worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test worker: %v\n%s", err, b)
	}
	return out, nil
}

// ImageTar returns a `docker save`-format archive holding WorkerImage,
// ExitImage and OnceImage, all one layer with the worker at /worker.
func ImageTar(workerBinary string) ([]byte, error) {
	bin, err := os.ReadFile(workerBinary)
	if err != nil {
		return nil, fmt.Errorf("read worker binary: %w", err)
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	mtime := time.Unix(0, 0)
	if err := lw.WriteHeader(&tar.Header{Name: "worker", Mode: 0o755, Size: int64(len(bin)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := lw.Write(bin); err != nil {
		return nil, err
	}
	if err := lw.Close(); err != nil {
		return nil, err
	}
	layerSum := sha256.Sum256(layer.Bytes())
	layerHex := hex.EncodeToString(layerSum[:])

	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(layerHex+"/layer.tar", layer.Bytes()); err != nil {
		return nil, err
	}
	type manifest struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifests []manifest
	for _, img := range []struct {
		tag string
		cmd []string
	}{
		{WorkerImage, nil},
		{ExitImage, []string{"--exit", "3"}},
		{OnceImage, []string{"--once"}},
	} {
		cfg, err := json.Marshal(map[string]any{
			"architecture": runtime.GOARCH,
			"os":           "linux",
			"created":      mtime.UTC().Format(time.RFC3339),
			"config": map[string]any{
				"Entrypoint": []string{"/worker"},
				"Cmd":        img.cmd,
				"Env":        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
				"Labels":     map[string]string{"org.example.test": "esb-agent"},
			},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerHex}},
			"history": []map[string]string{{"created": mtime.UTC().Format(time.RFC3339), "created_by": "agenttest"}},
		})
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(cfg)
		name := hex.EncodeToString(sum[:]) + ".json"
		if err := add(name, cfg); err != nil {
			return nil, err
		}
		manifests = append(manifests, manifest{Config: name, RepoTags: []string{img.tag}, Layers: []string{layerHex + "/layer.tar"}})
	}
	mj, err := json.Marshal(manifests)
	if err != nil {
		return nil, err
	}
	if err := add("manifest.json", mj); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// LoadDocker loads an image archive into the Docker Engine at host.
func LoadDocker(ctx context.Context, host string, archive []byte) error {
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	resp, err := cli.ImageLoad(ctx, bytes.NewReader(archive), client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("docker image load: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("docker image load: %w", err)
	}
	if strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("docker image load: %s", body)
	}
	return nil
}

// ImportContainerd imports an image archive into containerd's namespace and
// unpacks it for the default snapshotter.
func ImportContainerd(ctx context.Context, address, namespace string, archive []byte) error {
	cli, err := containerd.New(address)
	if err != nil {
		return fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	defer cli.Close()
	ctx = namespaces.WithNamespace(ctx, namespace)
	imgs, err := cli.Import(ctx, bytes.NewReader(archive))
	if err != nil {
		return fmt.Errorf("containerd import: %w", err)
	}
	for _, i := range imgs {
		img := containerd.NewImage(cli, i)
		if err := img.Unpack(ctx, ""); err != nil {
			return fmt.Errorf("unpack %s: %w", i.Name, err)
		}
	}
	return nil
}
