package cli

import "github.com/spf13/cobra"

func newDownCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the services and remove function containers",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
