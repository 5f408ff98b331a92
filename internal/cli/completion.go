package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCompletionCommand(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a completion script for your shell.

  bash:  esb completion bash > ~/.bash_completion.d/esb && source ~/.bash_completion.d/esb
  zsh:   esb completion zsh > ~/.zsh/completions/_esb   (with that directory in $fpath)
  fish:  esb completion fish > ~/.config/fish/completions/esb.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(g.Stdout, true)
			case "zsh":
				return root.GenZshCompletion(g.Stdout)
			case "fish":
				return root.GenFishCompletion(g.Stdout, true)
			}
			return fmt.Errorf("unknown shell %q (want bash, zsh or fish)", args[0])
		},
	}
}
