package main

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/farpipe/farpipe"
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

behaves like "producer | CMD | consumer": when CMD ends, connect delivers the
rest of its output and exits at once, without waiting for the end of its own
standard input. Once connected, SIGINT, SIGTERM and SIGHUP are passed on to
the remote command; the third one aborts at once. Before (listening, dialing
with --wait, the handshake), a signal ends connect at once.

` + exitCodesHelp,
		Example: `  seq 1 1000000 | farpipe connect fp://HOST:7000/#TOKEN | tail -1`,
		Args:    exactlyOneAddr("farpipe connect fp://HOST:7000/#TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConnect(cmd.Context(), &f, addrArg(args))
		},
	}
	f.register(cmd)
	return cmd
}

func runConnect(ctx context.Context, f *endpointFlags, addr string) error {
	if err := checkStd(os.Stdin, false, "connect"); err != nil {
		return err
	}
	if err := checkStd(os.Stdout, true, "connect"); err != nil {
		return err
	}
	c, done, err := f.connect(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	// From now on signals go to the remote command; the third one ends
	// this side.
	sigs, release := takeSignals(ctx)
	defer release()
	if ctx.Err() != nil { // a signal came just before
		c.Abort("the client was interrupted")
		return context.Cause(ctx)
	}
	growPipe(os.Stdin)
	growPipe(os.Stdout)
	stdin := newPollReader(os.Stdin)

	fwd := make(chan os.Signal, 4)
	actx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	var forwarder sync.WaitGroup
	forwarder.Add(1)
	go func() {
		defer forwarder.Done()
		for n := 1; ; n++ {
			select {
			case sig := <-sigs:
				if n >= 3 {
					c.Abort("the client was interrupted by " + signalName(sig.(syscall.Signal)))
					abort(&signalError{sig: sig.(syscall.Signal)})
					return
				}
				select {
				case fwd <- sig:
				case <-actx.Done():
					return
				}
			case <-actx.Done():
				return
			}
		}
	}()
	st, err := attach(actx, c, stdin, fwd)
	abort(nil)
	forwarder.Wait()
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

// attach runs proc.Attach on c. Once ctx has ended (the third signal), it
// waits at most a second more: Attach may wait for a write to a standard
// output that nobody reads, which only the end of the process ends.
func attach(ctx context.Context, c *farpipe.Conn, stdin io.Reader, signals <-chan os.Signal) (proc.Status, error) {
	type result struct {
		st  proc.Status
		err error
	}
	res := make(chan result, 1)
	go func() {
		st, err := proc.Attach(ctx, streams(c), stdin, os.Stdout, os.Stderr, signals)
		if cl, ok := stdin.(io.Closer); ok {
			cl.Close()
		}
		res <- result{st, err}
	}()
	select {
	case r := <-res:
		return r.st, r.err
	case <-ctx.Done():
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case r := <-res:
		return r.st, r.err
	case <-t.C:
		return proc.Status{}, context.Cause(ctx)
	}
}
