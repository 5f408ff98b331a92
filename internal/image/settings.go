package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Settings say where images go and where the build cache is. They are read
// once from the environment (SettingsFromEnv) and passed down.
type Settings struct {
	// Mode is docker, containerd or firecracker.
	Mode string
	// DockerHost is the Docker Engine address (DOCKER_HOST; empty: default).
	DockerHost string
	// ContainerdAddress is containerd's socket (CONTAINERD_ADDRESS).
	ContainerdAddress string
	// Namespace is the containerd namespace (CONTAINERD_NAMESPACE, default esb).
	Namespace string
	// Snapshotter unpacks images in containerd (CONTAINERD_SNAPSHOTTER).
	Snapshotter string
	// Registry is CONTAINER_REGISTRY: in containerd and firecracker modes
	// images are pushed there (and imported into the local containerd).
	Registry string
	// RegistryInsecure allows plain HTTP to a registry that is not on
	// localhost (ESB_REGISTRY_INSECURE=1).
	RegistryInsecure bool
	// CacheDir is the build cache (ESB_CACHE_DIR, else $XDG_CACHE_HOME/esb,
	// else ~/.cache/esb).
	CacheDir string
	// RIE is the esb-rie binary named by ESB_RIE.
	RIE string
}

// SettingsFromEnv reads the settings; mode and registry come from the
// project (which already applied ESB_MODE and CONTAINER_REGISTRY).
func SettingsFromEnv(getenv func(string) string, mode, registry string) Settings {
	s := Settings{
		Mode:              mode,
		DockerHost:        getenv("DOCKER_HOST"),
		ContainerdAddress: getenv("CONTAINERD_ADDRESS"),
		Namespace:         getenv("CONTAINERD_NAMESPACE"),
		Snapshotter:       getenv("CONTAINERD_SNAPSHOTTER"),
		Registry:          registry,
		RegistryInsecure:  getenv("ESB_REGISTRY_INSECURE") == "1",
		CacheDir:          getenv("ESB_CACHE_DIR"),
		RIE:               getenv("ESB_RIE"),
	}
	if s.Mode == "" {
		s.Mode = "docker"
	}
	if s.ContainerdAddress == "" {
		s.ContainerdAddress = DefaultContainerdAddress
	}
	if s.Namespace == "" {
		s.Namespace = DefaultNamespace
	}
	if s.CacheDir == "" {
		if x := getenv("XDG_CACHE_HOME"); x != "" {
			s.CacheDir = filepath.Join(x, "esb")
		} else if h := getenv("HOME"); h != "" {
			s.CacheDir = filepath.Join(h, ".cache", "esb")
		} else {
			s.CacheDir = filepath.Join(os.TempDir(), "esb-cache")
		}
	}
	return s
}

// OpenTarget connects to where images go in the settings' mode: the Docker
// Engine in docker mode (never a registry); containerd in containerd and
// firecracker modes, plus the registry when one is set (then a containerd
// that is not running here is skipped: images are only pushed).
func OpenTarget(ctx context.Context, s Settings) (Target, error) {
	switch s.Mode {
	case "docker":
		return NewDockerTarget(ctx, DockerOptions{Host: s.DockerHost, PullBase: true})
	case "containerd", "firecracker":
		local, err := NewContainerdTarget(ctx, ContainerdOptions{Address: s.ContainerdAddress, Namespace: s.Namespace, Snapshotter: s.Snapshotter, PullBase: true})
		if s.Registry == "" {
			return local, err
		}
		if err != nil {
			return NewRegistryTarget(registryHost(s.Registry), s.RegistryInsecure, nil), nil
		}
		return NewRegistryTarget(registryHost(s.Registry), s.RegistryInsecure, local), nil
	}
	return nil, fmt.Errorf("mode %q cannot build images; use docker, containerd or firecracker", s.Mode)
}

func registryHost(r string) string {
	return strings.TrimSuffix(r, "/")
}
