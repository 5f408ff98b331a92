package cli

import "github.com/spf13/cobra"

func newBaseCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "base",
		Short: "Build offline base images for python and nodejs runtimes from Debian packages",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
