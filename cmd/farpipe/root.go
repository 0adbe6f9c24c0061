package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "farpipe",
		Short: "Unix pipes between hosts",
		Long: `farpipe gives Unix-pipe semantics to processes on different hosts:

  producer | farpipe send HOST:PORT          (on one host)
  farpipe recv --listen :PORT | consumer     (on another)

behaves like "producer | consumer": ordered bytes, EOF when the producer
finishes, a broken pipe when the consumer goes away, backpressure when the
consumer is slow, and an exit status that tells the truth about delivery.
Either side may listen: "farpipe send --listen :PORT" and "farpipe recv HOST:PORT"
work as well.

` + exitCodesHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q: the commands are send, recv, exec, connect, demo and version; see farpipe --help", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usagef("%v: see farpipe --help", err)
	})
	root.AddCommand(newSendCmd(), newRecvCmd(), newExecCmd(), newConnectCmd(), newDemoCmd(), newVersionCmd(), newTeeCmd(), newMergeCmd(), newMapCmd())
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// exactlyOneAddr is the argument rule of send and recv.
func exactlyOneAddr(example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("%s takes exactly one address, got %d: for example %s", cmd.CommandPath(), len(args), example)
		}
		return nil
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Println("farpipe " + version)
		},
	}
}
