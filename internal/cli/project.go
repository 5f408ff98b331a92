package cli

import "github.com/spf13/cobra"

func newProjectCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "project [DIR]",
		Short: "Show or switch the current project",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
