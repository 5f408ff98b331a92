package cli

import "github.com/spf13/cobra"

func newGatewayCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the gateway daemon (API Gateway-compatible front)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
