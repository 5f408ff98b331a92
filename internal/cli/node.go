package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// nodeNotAvailable explains why compute-node management is not in this build:
// the gateway and agent already speak the node protocol (gRPC over mTLS), but
// registering, checking and provisioning remote nodes over SSH is not built yet.
func nodeNotAvailable(sub string) error {
	return &ExitError{Code: 2, Err: fmt.Errorf("`esb node %s` is not available yet in this build of esb: "+
		"remote compute nodes (and the firecracker mode they host) come in a later release; "+
		"run everything on this machine with ESB_MODE=docker or ESB_MODE=containerd", sub)}
}

func newNodeCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Manage compute nodes (add, doctor, provision, up)",
		Long: `Manage remote compute nodes over SSH: register them, check their prerequisites,
install what they need, and start their agent. Not available yet in this build.`,
		Args: cobra.NoArgs,
	}

	var host, password, name, sudoPassword string
	var skipKeySetup, strict, requireUp, sudoNopasswd bool
	var fcVersion, fcKernelURL, fcRootfsURL, devmapperPool string

	add := &cobra.Command{
		Use:   "add",
		Short: "Register a compute node (generates ~/.esb/id_ed25519 and installs it on the node)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return nodeNotAvailable("add") },
	}
	add.Flags().StringVar(&host, "host", "", "SSH destination of the node, user@host")
	add.Flags().StringVar(&password, "password", "", "SSH password for the first key installation")
	add.Flags().BoolVar(&skipKeySetup, "skip-key-setup", false, "don't generate or install an SSH key")

	doctor := &cobra.Command{
		Use:   "doctor",
		Short: "Check a compute node's prerequisites",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return nodeNotAvailable("doctor") },
	}
	doctor.Flags().StringVar(&name, "name", "", "registered node name")
	doctor.Flags().StringVar(&host, "host", "", "SSH destination of the node")
	doctor.Flags().BoolVar(&strict, "strict", false, "treat warnings as failures")
	doctor.Flags().BoolVar(&requireUp, "require-up", false, "also require the node's services to be running")

	provision := &cobra.Command{
		Use:   "provision",
		Short: "Install what a compute node needs (containerd, CNI, firecracker, the esb root CA)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return nodeNotAvailable("provision") },
	}
	pf := provision.Flags()
	pf.StringVar(&name, "name", "", "registered node name")
	pf.StringVar(&host, "host", "", "SSH destination of the node")
	pf.StringVar(&sudoPassword, "sudo-password", "", "sudo password on the node")
	pf.BoolVar(&sudoNopasswd, "sudo-nopasswd", false, "configure (or use) passwordless sudo for the SSH user")
	pf.StringVar(&fcVersion, "firecracker-version", "", "firecracker version to install")
	pf.StringVar(&fcKernelURL, "firecracker-kernel-url", "", "where to get the guest kernel")
	pf.StringVar(&fcRootfsURL, "firecracker-rootfs-url", "", "where to get the guest root filesystem (skips building it)")
	pf.StringVar(&devmapperPool, "devmapper-pool", "", "devmapper thin pool for the snapshotter")

	up := &cobra.Command{
		Use:   "up",
		Short: "Start the compute services on a node (firecracker mode)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return nodeNotAvailable("up") },
	}
	up.Flags().StringVar(&name, "name", "", "registered node name")
	up.Flags().StringVar(&host, "host", "", "SSH destination of the node")

	cmd.AddCommand(add, doctor, provision, up)
	return cmd
}
