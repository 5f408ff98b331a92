package cli

import "github.com/spf13/cobra"

func newEnvCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Manage environments in generator.yml (add, list, use, remove)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
