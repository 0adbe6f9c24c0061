package main

import (
	"fmt"
	"os"
	"runtime/debug"

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
				return usagef("unknown command %q: the commands are send, recv, exec, connect, map, worker, tee, merge, relay, pub, sub, demo and version; see farpipe --help", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.Version = buildVersion()
	root.SetVersionTemplate("farpipe {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usagef("%v: see farpipe --help", err)
	})
	root.AddCommand(newSendCmd(), newRecvCmd(), newExecCmd(), newConnectCmd(), newDemoCmd(), newVersionCmd(), newTeeCmd(), newMergeCmd(), newMapCmd(), newRelayCmd(), newPubCmd(), newSubCmd(), newWorkerCmd())
	root.CompletionOptions.DisableDefaultCmd = true
	addObserveFlags(root) // --metrics, --log-format: see observe.go
	root.PersistentPreRunE = startObserving
	return root
}

// exactlyOneAddr is the argument rule of send, recv and connect: one
// address, or none with a relay for short codes (--relay, $FARPIPE_RELAY).
func exactlyOneAddr(example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 && (cmd.Flags().Changed("relay") || os.Getenv(envRelay) != "") {
			return nil
		}
		if len(args) != 1 {
			return usagef("%s takes exactly one address, got %d: for example %s", cmd.CommandPath(), len(args), example)
		}
		return nil
	}
}

// addrArg is the address argument, or "" (make a short code).
func addrArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// version may be set at build time with -ldflags "-X main.version=...";
// otherwise it comes from the build information.
var version = ""

// buildVersion is the version farpipe version prints: the one set at build
// time, else the module's version (go install ...@v1.2.3), else the VCS
// revision the binary was built from, with "+dirty" when the work tree had
// changes.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown: built without module information)"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel: built without version control information, " + bi.GoVersion + ")"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "(devel) " + rev
	if dirty {
		v += "+dirty"
	}
	if at != "" {
		v += " " + at
	}
	return v + ", " + bi.GoVersion
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "farpipe "+buildVersion())
			return err
		},
	}
}
