package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/proc"
	"github.com/spf13/cobra"
)

func newExecCmd() *cobra.Command {
	f := endpointFlags{peerVerb: "connect"}
	var (
		once  bool
		drain time.Duration
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] --listen ADDR -- CMD [ARGS...]",
		Short: "Run CMD as a filter for each peer that connects",
		Long: `Listen at ADDR and, for each peer that connects ("farpipe connect ADDR"), run
CMD with ARGS: the peer's standard input becomes CMD's, CMD's standard output
and error go back to the peer, and so does its exit status. Only CMD as given
here ever runs: nothing a peer sends can choose or change it. CMD's standard
input and output are pipes.

Each command leads a process group of its own. SIGTERM or SIGINT stops
accepting peers and lets running commands finish for up to --drain-timeout,
then exits 128+N (130 for SIGINT, 143 for SIGTERM). If the drain time runs
out, or at a second signal, the commands still running get SIGTERM, then
SIGKILL 2 s later, their peers are told why (their connect exits 4), and exec
exits 1 (after the drain timeout) or 128+N (after a second signal).

` + exitCodesHelp,
		Example: `  farpipe exec --listen :7000 -- sort -rn
  seq 1 1000000 | farpipe connect fp://HOST:7000/#TOKEN | tail -1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 || len(args) == 0 {
				return usagef("give the command after --, for example: farpipe exec --listen :7000 -- sort -rn")
			}
			if cmd.Flags().Changed("wait") {
				return usagef("--wait does nothing for exec, which listens: give --wait to farpipe connect")
			}
			if f.listenAddr == "" && !cmd.Flags().Changed("relay") && os.Getenv(envRelay) == "" {
				return usagef("farpipe exec needs --listen ADDR, or --relay RELAY to print a short code")
			}
			f.listen = true
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if drain < 0 {
				return usagef("--drain-timeout %s: give 0 or a positive duration such as 30s", drain)
			}
			if once {
				f.sessions = 1
			}
			return runExec(cmd.Context(), &f, args, once, drain)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&once, "once", false, "serve exactly one peer, then exit")
	cmd.Flags().DurationVar(&drain, "drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long running commands may take to finish")
	return cmd
}

func runExec(ctx context.Context, f *endpointFlags, argv []string, once bool, drain time.Duration) error {
	// Signals stop accepting and start the drain (see signals.go).
	if isCode(f.listenAddr) { // a short code names one pipe: serve that one
		addr, err := f.byCode(ctx, f.listenAddr)
		if err != nil {
			return err
		}
		f.listenAddr, f.sessions, once = addr, 1, true
	}
	sigs, release := takeSignals(ctx)
	defer release()
	opts, err := f.options()
	if err != nil {
		return err
	}
	ln, err := f.listener(ctx, f.listenAddr, opts, nil)
	if err != nil {
		return err
	}
	defer ln.Close()

	// Commands run until they finish or are cut off; a signal does not
	// cancel them.
	serving, cutOff := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cutOff(nil)
	actx, stopAccepting := context.WithCancel(ctx)
	defer stopAccepting()
	var cut atomic.Int32 // commands that were cut off
	finished := serveAll(actx, serving, f, ln, argv, once, &cut)

	var first *signalError
	select {
	case <-finished: // --once: the one peer was served
		if ctx.Err() != nil { // or a signal came before takeSignals
			return context.Cause(ctx)
		}
		return nil
	case sig := <-sigs:
		first = &signalError{sig: sig.(syscall.Signal)}
	case <-ctx.Done(): // a signal before takeSignals
		if !errors.As(context.Cause(ctx), &first) {
			return context.Cause(ctx)
		}
	}
	if f.verbose {
		logf("%s: no new peers; waiting up to %s for running commands", signalName(first.sig), drain)
	}
	ln.StopAccepting()
	stopAccepting()
	t := time.NewTimer(drain)
	defer t.Stop()
	select {
	case <-finished:
		return first
	case <-t.C:
		cutOff(&cutOffError{fmt.Sprintf("farpipe exec's --drain-timeout (%s) ran out", drain)})
		<-finished
		if cut.Load() == 0 { // they all finished in time after all
			return first
		}
		return fmt.Errorf("farpipe: --drain-timeout %s ran out with %d commands still running: they were terminated (SIGTERM, then SIGKILL) and their peers told", drain, cut.Load())
	case sig := <-sigs:
		se := &signalError{sig: sig.(syscall.Signal)}
		cutOff(&cutOffError{"farpipe exec was interrupted by a second signal (" + signalName(se.sig) + ")"})
		<-finished
		return se
	}
}

// serveAll accepts peers until actx ends (--once: one peer) and serves each
// with serving; the channel it returns is closed once accepting has stopped
// and every command has finished.
func serveAll(actx, serving context.Context, f *endpointFlags, ln *farpipe.Listener, argv []string, once bool, cut *atomic.Int32) <-chan struct{} {
	var running sync.WaitGroup
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept(actx)
			if err != nil {
				return
			}
			obs.track(c)
			running.Add(1)
			go func() {
				defer running.Done()
				if serveOne(serving, f, c, argv) {
					cut.Add(1)
				}
			}()
			if once {
				ln.StopAccepting()
				return
			}
		}
	}()
	finished := make(chan struct{})
	go func() {
		<-accepted
		running.Wait()
		close(finished)
	}()
	return finished
}

// cutOffError says why exec ended the commands still running.
type cutOffError struct{ reason string }

func (e *cutOffError) Error() string { return e.reason }

// serveOne runs the command for one peer and waits until the peer has all
// of its output and its status. If ctx ends first, the command is
// terminated and the peer told why; serveOne then reports true.
func serveOne(ctx context.Context, f *endpointFlags, c *farpipe.Conn, argv []string) (cut bool) {
	if f.verbose {
		logEvent(evConnect, fmt.Sprintf("%s connected: running %s", c.RemoteAddr(), argv[0]), "peer", c.RemoteAddr().String())
	}
	st, err := proc.Serve(ctx, argv, streams(c))
	if err == nil {
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		for i := range 3 {
			if derr := c.Channel(i).Drain(dctx); derr != nil && err == nil {
				err = derr
			}
		}
		cancel()
	}
	if err != nil && ctx.Err() != nil {
		reason := context.Cause(ctx).Error()
		if errors.Is(err, proc.ErrTerminated) {
			reason += ": " + argv[0] + " was terminated"
		} else {
			reason += " before the client had all of " + argv[0] + "'s output"
		}
		c.Abort(reason)
		c.Wait() // the reason reaches the peer before this process exits
		if f.verbose {
			logf("%s: %s", c.RemoteAddr(), reason)
		}
		return true
	}
	finish(c)
	switch {
	case err != nil && f.verbose:
		logEvent(evEnd, fmt.Sprintf("%s: %v", c.RemoteAddr(), trimPrefix(err)), "peer", c.RemoteAddr().String(), "error", trimPrefix(err))
	case f.verbose:
		logEvent(evEnd, fmt.Sprintf("%s: %s %s", c.RemoteAddr(), argv[0], st), "peer", c.RemoteAddr().String(), "status", st.String())
	}
	return false
}

// streams are the channels of a remote command: 0 standard input and
// output (the Conn's own, compressed with --compress), 1 standard error,
// 2 control.
func streams(c *farpipe.Conn) proc.Streams {
	return proc.Streams{In: c, Err: c.Channel(1), Ctl: c.Channel(2)}
}
