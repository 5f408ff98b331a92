package cli

import "github.com/spf13/cobra"

func newBuildCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Compile template.yaml and build one image per function",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
