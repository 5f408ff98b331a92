package agent_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/agenttest"
	"github.com/edgeserverlessbox/esb/internal/agent/docker"
)

const testDockerNetwork = "esb-agenttest"

func dockerMode(t *testing.T, host string) mode {
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return mode{
		name: "docker",
		newRuntime: func(t *testing.T) agent.Runtime {
			rt, err := docker.New(context.Background(), docker.Config{Host: host, Network: testDockerNetwork}, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			return rt
		},
		load: func(ctx context.Context, archive []byte) error { return agenttest.LoadDocker(ctx, host, archive) },
		gatewayIP: func(t *testing.T) string {
			nw, err := cli.NetworkInspect(context.Background(), testDockerNetwork, network.InspectOptions{})
			if err != nil || len(nw.IPAM.Config) == 0 {
				t.Fatalf("inspect network: %v", err)
			}
			return nw.IPAM.Config[0].Gateway
		},
		unmanaged: func(t *testing.T) (string, func() bool) {
			ctx := context.Background()
			// As if someone ran an esb image by hand: Docker copies the image's
			// esb.managed label into the container, but only the agent sets
			// esb.created-at, so the agent must still leave it alone.
			c, err := cli.ContainerCreate(ctx, &container.Config{Image: agenttest.WorkerImage,
				Labels: map[string]string{agent.LabelManaged: "true", agent.LabelFunction: "Hand"}}, nil, nil, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) })
			return c.ID, func() bool {
				_, err := cli.ContainerInspect(ctx, c.ID)
				return err == nil
			}
		},
	}
}

func TestIntegrationDocker(t *testing.T) {
	host, _ := integration(t)
	runIntegration(t, dockerMode(t, host))
}
