package cli

import "github.com/spf13/cobra"

func newLogsCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs [SERVICE|FUNCTION...]",
		Short: "Show logs of functions and services",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
