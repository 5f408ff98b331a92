package cli

import "github.com/spf13/cobra"

func newTokenCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a fresh IdToken for the gateway",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
