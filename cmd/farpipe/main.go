// Command farpipe gives Unix-pipe semantics to processes on different hosts:
//
//	producer | farpipe send HOST:PORT          # on one host
//	farpipe recv --listen :PORT | consumer     # on another
//
// behaves like producer | consumer. Run farpipe --help for the commands and
// exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit status.
func run(args []string) int {
	// A consumer that goes away must give us EPIPE, not kill us: we have to
	// tell the sender first (see recv). SIGPIPE is caught rather than
	// ignored: an ignored signal stays ignored across exec, and the commands
	// that exec and map start must get its default action ("yes | head -1"
	// ends yes). The channel is never read; deliveries beyond one are dropped.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := withSignals(context.Background()) // see signals.go
	defer stop()
	cmd := newRootCmd()
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	stopObserving()
	var es exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &es): // the status of a remote command: no message
		return int(es)
	}
	code := exitCode(err)
	logError(oneLine(err), code)
	return code
}

// exitStatus is an error that only sets the exit status.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
