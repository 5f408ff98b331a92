package agent_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"

	"github.com/edgeserverlessbox/esb/internal/agent"
	"github.com/edgeserverlessbox/esb/internal/agent/agenttest"
	"github.com/edgeserverlessbox/esb/internal/agent/cni"
	ctrd "github.com/edgeserverlessbox/esb/internal/agent/containerd"
)

// The tests' own namespace and network, apart from a real agent's.
const (
	testNamespace = "esb-agenttest"
	testSubnet    = "10.213.0.0/16"
	testGateway   = "10.213.0.1"
)

func containerdMode(t *testing.T, address string) mode {
	// One state directory across agent restarts, as a real agent keeps.
	state, err := os.MkdirTemp("", "esb-agenttest-state")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	cfg := ctrd.Config{
		Address:   address,
		Namespace: testNamespace,
		StateDir:  state,
		CNI:       cni.Config{Name: "esb-agenttest", Bridge: "esbtest0", Subnet: testSubnet, NoMasquerade: os.Getenv("NOMASQ") == "1"},
	}
	return mode{
		name: "containerd",
		newRuntime: func(t *testing.T) agent.Runtime {
			rt, err := ctrd.New(context.Background(), cfg, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			return rt
		},
		load: func(ctx context.Context, archive []byte) error {
			return agenttest.ImportContainerd(ctx, address, testNamespace, archive)
		},
		gatewayIP: func(t *testing.T) string { return testGateway },
		unmanaged: func(t *testing.T) (string, func() bool) {
			ctx := namespaces.WithNamespace(context.Background(), testNamespace)
			cli, err := containerd.New(address)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cli.Close() })
			id := "unlabelled-" + filepath.Base(t.TempDir())
			c, err := cli.NewContainer(ctx, id, containerd.WithNewSpec(oci.WithProcessArgs("/worker")))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Delete(ctx) })
			return id, func() bool {
				_, err := cli.LoadContainer(ctx, id)
				return err == nil
			}
		},
	}
}

func TestIntegrationContainerd(t *testing.T) {
	_, address := integration(t)
	runIntegration(t, containerdMode(t, address))
}
