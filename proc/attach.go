package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// ErrNoStatus means the remote side ended without reporting how the
// command ended.
var ErrNoStatus = errors.New("farpipe: the remote side ended without the command's exit status")

// Attach is the client of Serve: it sends stdin to the remote command
// (closing its input at stdin's EOF while the output keeps flowing), copies
// the command's output to stdout and its standard error to stderr, forwards
// each signal from signals, and returns the command's status once all
// output has arrived. A failed write to stdout (the consumer went away)
// tells the remote side, whose command then gets a broken pipe.
func Attach(ctx context.Context, s Streams, stdin io.Reader, stdout, stderr io.Writer, signals <-chan os.Signal) (Status, error) {
	go func() {
		if _, err := s.In.ReadFrom(stdin); err == nil {
			s.In.CloseWrite()
		}
	}()
	var out sync.WaitGroup
	var outErr error
	out.Add(2)
	go func() {
		defer out.Done()
		if _, err := s.In.WriteTo(stdout); err != nil {
			outErr = err
			s.In.CloseRead()
		}
	}()
	go func() {
		defer out.Done()
		if _, err := s.Err.WriteTo(stderr); err != nil {
			s.Err.CloseRead()
		}
	}()

	status := make(chan Status, 1)
	ctlDone := make(chan error, 1)
	go func() {
		ctlDone <- readLines(s.Ctl, func(verb string, n int) {
			switch verb {
			case "exit":
				select {
				case status <- Status{Code: n}:
				default:
				}
			case "killed":
				select {
				case status <- Status{Signal: syscall.Signal(n)}:
				default:
				}
			}
		})
	}()
	for {
		select {
		case sig := <-signals:
			if n, ok := sig.(syscall.Signal); ok && forwarded[n] {
				fmt.Fprintf(s.Ctl, "signal %d\n", int(n))
			}
		case err := <-ctlDone:
			out.Wait()
			select {
			case st := <-status:
				return st, outErr
			default:
			}
			if err == nil {
				err = ErrNoStatus
			}
			return Status{}, err
		case <-ctx.Done():
			return Status{}, ctx.Err()
		}
	}
}
