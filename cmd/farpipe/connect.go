package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/farpipe/farpipe/proc"
	"github.com/spf13/cobra"
)

func newConnectCmd() *cobra.Command {
	f := endpointFlags{peerVerb: "exec", sessions: 1}
	cmd := &cobra.Command{
		Use:   "connect [flags] ADDR",
		Short: "Run the remote command of a farpipe exec as a local filter",
		Long: `Connect to "farpipe exec" at ADDR: standard input goes to its command,
whose standard output and error come out of this process's, and this process
exits with the command's exit status (128+N if a signal N killed it), so that

  producer | farpipe connect ADDR | consumer

behaves like "producer | CMD | consumer". SIGINT, SIGTERM and SIGHUP are
passed on to the remote command; the third one aborts at once.

` + exitCodesHelp,
		Example: `  seq 1 1000000 | farpipe connect fp://HOST:7000/#TOKEN | tail -1`,
		Args:    exactlyOneAddr("farpipe connect fp://HOST:7000/#TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConnect(cmd.Context(), &f, args[0])
		},
	}
	f.register(cmd)
	return cmd
}

func runConnect(ctx context.Context, f *endpointFlags, addr string) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	c, done, err := f.connect(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	growPipe(os.Stdin)
	growPipe(os.Stdout)

	// Signals go to the remote command; the third one ends this side.
	fwd := make(chan os.Signal, 4)
	actx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	go func() {
		for n := 1; ; n++ {
			select {
			case sig := <-sigs:
				if n >= 3 {
					c.Abort("the client was interrupted by " + signalName(sig.(syscall.Signal)))
					abort(&signalError{sig.(syscall.Signal)})
					return
				}
				fwd <- sig
			case <-actx.Done():
				return
			}
		}
	}()
	st, err := proc.Attach(actx, streams(c), os.Stdin, os.Stdout, os.Stderr, fwd)
	var se *signalError
	switch {
	case errors.As(context.Cause(actx), &se):
		return se
	case err != nil && errors.Is(err, proc.ErrNoStatus):
		return err
	case err != nil && st == (proc.Status{}):
		return err
	}
	return exitStatus(st.ExitCode())
}
