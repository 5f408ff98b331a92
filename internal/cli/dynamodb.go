package cli

import "github.com/spf13/cobra"

func newDynamoDBCommand(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dynamodb",
		Short: "Run the DynamoDB-compatible database",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return notAvailable(cmd.CommandPath()[len("esb "):])
		},
	}
	return cmd
}
