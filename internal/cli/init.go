package cli

import "github.com/spf13/cobra"

func newInitCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create generator.yml for a template interactively",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
