// Package cli holds the cobra commands of the esb binary. Commands only parse
// flags, call into the package that does the work, and print the result.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Version is the esb version, set at link time with -ldflags "-X ...cli.Version=…".
var Version = "dev"

// ExitError carries the process exit code for an error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by Execute to a process exit code:
// 0 for nil, the code of an *ExitError, 1 otherwise.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

// notAvailable is the error of a command that a later part of esb delivers.
func notAvailable(command string) error {
	return &ExitError{Code: 2, Err: fmt.Errorf("`esb %s` is not available yet in this build of esb", command)}
}

// Globals are the flags every command sees, and the process's streams.
type Globals struct {
	Template string
	Env      string
	Verbose  bool

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Command groups shown by `esb --help`.
const (
	groupProject = "project"
	groupRun     = "run"
	groupNodes   = "nodes"
	groupDaemons = "daemons"
)

// NewRootCommand builds the esb command tree.
func NewRootCommand(g *Globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "esb",
		Short: "Edge Serverless Box: run AWS SAM applications on one machine, offline, in real containers",
		Long: `esb runs an AWS SAM application (Lambda functions behind an API Gateway-compatible
front, DynamoDB tables, S3 buckets) on an edge or on-prem machine, offline, in real
containers, with autoscaling and scale-to-zero.

  esb init      create generator.yml for a template.yaml
  esb build     compile the template and build function images
  esb up        start everything and provision tables and buckets
  esb down      stop everything`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetIn(g.Stdin)
	root.SetOut(g.Stdout)
	root.SetErr(g.Stderr)
	root.SetVersionTemplate("esb {{.Version}}\n")

	pf := root.PersistentFlags()
	pf.StringVarP(&g.Template, "template", "t", "", "path to the SAM template (default: $ESB_TEMPLATE, ./template.yaml, the project's template.yaml, e2e/fixtures/template.yaml)")
	pf.StringVar(&g.Env, "env", "", "environment from generator.yml to use (default: the current one)")
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "verbose output")

	root.AddGroup(
		&cobra.Group{ID: groupProject, Title: "Project commands:"},
		&cobra.Group{ID: groupRun, Title: "Run commands:"},
		&cobra.Group{ID: groupNodes, Title: "Compute node commands:"},
		&cobra.Group{ID: groupDaemons, Title: "Daemons (started by esb up; usable on their own):"},
	)

	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add(groupProject,
		newInitCommand(g),
		newBuildCommand(g),
		newBaseCommand(g),
		newEnvCommand(g),
		newProjectCommand(g),
		newPruneCommand(g),
	)
	add(groupRun,
		newUpCommand(g),
		newDownCommand(g),
		newStatusCommand(g),
		newLogsCommand(g),
		newTokenCommand(g),
	)
	add(groupNodes, newNodeCommand(g))
	add(groupDaemons,
		newAgentCommand(g),
		newGatewayCommand(g),
		newDynamoDBCommand(g),
		newS3Command(g),
	)
	root.AddCommand(newVersionCommand(g), newCompletionCommand(g))
	return root
}

// Execute runs the esb command line with the process's arguments and streams.
func Execute(args []string) error {
	g := &Globals{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	root := NewRootCommand(g)
	root.SetArgs(args)
	return root.Execute()
}
