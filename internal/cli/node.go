package cli

import "github.com/spf13/cobra"

func newNodeCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Manage compute nodes (add, doctor, provision, up)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
