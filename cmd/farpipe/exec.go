package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
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

SIGTERM or SIGINT stops accepting peers and lets running commands finish for
up to --drain-timeout, then exits 0; a second signal exits at once.

` + exitCodesHelp,
		Example: `  farpipe exec --listen :7000 -- sort -rn
  seq 1 1000000 | farpipe connect fp://HOST:7000/#TOKEN | tail -1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 || len(args) == 0 {
				return usagef("give the command after --, for example: farpipe exec --listen :7000 -- sort -rn")
			}
			if f.listenAddr == "" {
				return usagef("farpipe exec needs --listen ADDR")
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
	opts, err := f.options()
	if err != nil {
		return err
	}
	ln, err := f.listener(ctx, f.listenAddr, opts, nil)
	if err != nil {
		return err
	}
	defer ln.Close()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	actx, stopAccepting := context.WithCancel(ctx)
	defer stopAccepting()
	var running sync.WaitGroup
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept(actx)
			if err != nil {
				return
			}
			running.Add(1)
			go func() {
				defer running.Done()
				serveOne(ctx, f, c, argv)
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

	select {
	case <-finished: // --once: the one peer was served
		return nil
	case sig := <-sigs:
		if f.verbose {
			logf("%s: no new peers; waiting up to %s for %s", signalName(sig.(syscall.Signal)), drain, "running commands")
		}
		ln.StopAccepting()
		stopAccepting()
		t := time.NewTimer(drain)
		defer t.Stop()
		select {
		case <-finished:
			return nil
		case <-t.C:
			logf("drain timeout: %s passed with commands still running; leaving them", drain)
			return nil
		case sig := <-sigs:
			return &signalError{sig.(syscall.Signal)}
		}
	}
}

// serveOne runs the command for one peer and waits until the peer has all
// of its output and its status.
func serveOne(ctx context.Context, f *endpointFlags, c *farpipe.Conn, argv []string) {
	if f.verbose {
		logf("%s connected: running %s", c.RemoteAddr(), argv[0])
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
	finish(c)
	switch {
	case err != nil && f.verbose:
		logf("%s: %v", c.RemoteAddr(), trimPrefix(err))
	case f.verbose:
		logf("%s: %s %s", c.RemoteAddr(), argv[0], st)
	}
}

// streams are the channels of a remote command: 0 standard input and
// output, 1 standard error, 2 control.
func streams(c *farpipe.Conn) proc.Streams {
	return proc.Streams{In: c.Channel(0), Err: c.Channel(1), Ctl: c.Channel(2)}
}
