package cli

import "github.com/spf13/cobra"

func newPruneCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove esb images, containers and volumes",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
