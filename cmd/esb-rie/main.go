// Command esb-rie is the Lambda Runtime API emulator that runs as the entrypoint
// of every function container.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "esb-rie: not available yet in this build")
	os.Exit(2)
}
