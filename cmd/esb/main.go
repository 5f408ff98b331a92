// Command esb is the Edge Serverless Box CLI and, through subcommands, every
// esb daemon (agent, gateway, dynamodb, s3).
package main

import (
	"fmt"
	"os"

	"github.com/edgeserverlessbox/esb/internal/cli"
)

func main() {
	err := cli.Execute(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "esb:", err)
	}
	os.Exit(cli.ExitCode(err))
}
