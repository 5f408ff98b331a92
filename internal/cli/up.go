package cli

import "github.com/spf13/cobra"

func newUpCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the services and provision tables and buckets",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
