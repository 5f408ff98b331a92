package cli

import "github.com/spf13/cobra"

func newS3Command(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "s3",
		Short: "Run the S3-compatible object storage",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
