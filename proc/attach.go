package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
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
//
// Like a local pipe, Attach does not wait for the end of stdin once the
// command has ended. It returns early, with context.Cause(ctx), if ctx ends.
// Either way it stops its goroutines and waits for them: a Read of stdin or
// a Write to stdout or stderr still blocked is interrupted through a
// SetReadDeadline or SetWriteDeadline method with a time in the past (left
// so), if the reader or writer has one (net.Conn, a pollable *os.File);
// otherwise Attach waits for it to return by itself.
func Attach(ctx context.Context, s Streams, stdin io.Reader, stdout, stderr io.Writer, signals <-chan os.Signal) (Status, error) {
	a := &attached{s: s, stdin: stdin, stdout: stdout, stderr: stderr}
	a.start()
	st, err := a.wait(ctx, signals)
	a.stop(err != nil)
	if err == nil && a.outErr != nil {
		err = a.outErr
	}
	return st, err
}

// attached is a session with a remote command and the goroutines that
// copy for it.
type attached struct {
	s              Streams
	stdin          io.Reader
	stdout, stderr io.Writer

	copiers sync.WaitGroup
	out     chan struct{} // closed when stdout and stderr have all output
	outErr  error         // why stdout failed; read after out is closed
	status  chan Status   // cap 1: the status the server reported
	ctlDone chan error    // cap 1: the control channel's end
}

func (a *attached) start() {
	s := a.s
	a.out = make(chan struct{})
	a.status = make(chan Status, 1)
	a.ctlDone = make(chan error, 1)
	var out sync.WaitGroup
	out.Add(2)
	a.copiers.Add(5)
	go func() {
		defer a.copiers.Done()
		if _, err := s.In.ReadFrom(a.stdin); err == nil {
			s.In.CloseWrite()
		}
	}()
	go func() {
		defer a.copiers.Done()
		defer out.Done()
		if _, err := s.In.WriteTo(a.stdout); err != nil {
			a.outErr = err
			s.In.CloseRead()
		}
	}()
	go func() {
		defer a.copiers.Done()
		defer out.Done()
		if _, err := s.Err.WriteTo(a.stderr); err != nil {
			s.Err.CloseRead()
		}
	}()
	go func() {
		defer a.copiers.Done()
		out.Wait()
		close(a.out)
	}()
	go func() {
		defer a.copiers.Done()
		a.ctlDone <- readLines(s.Ctl, func(verb string, n int) {
			var st Status
			switch verb {
			case "exit":
				st = Status{Code: n}
			case "killed":
				st = Status{Signal: syscall.Signal(n)}
			default:
				return
			}
			select {
			case a.status <- st:
			default:
			}
		})
	}()
}

// wait forwards signals until the control channel ends, then waits for
// the output.
func (a *attached) wait(ctx context.Context, signals <-chan os.Signal) (Status, error) {
	var err error
wait:
	for {
		select {
		case sig := <-signals:
			if n, ok := sig.(syscall.Signal); ok && forwarded[n] {
				fmt.Fprintf(a.s.Ctl, "signal %d\n", int(n))
			}
		case err = <-a.ctlDone:
			break wait
		case <-ctx.Done():
			return Status{}, context.Cause(ctx)
		}
	}
	select {
	case <-a.out:
	case <-ctx.Done():
		return Status{}, context.Cause(ctx)
	}
	select {
	case st := <-a.status:
		return st, nil
	default:
	}
	if err == nil {
		err = ErrNoStatus
	}
	return Status{}, err
}

// stop ends the copying still going on and waits for every goroutine.
// With early (the command's end was not seen), the output is cut off too.
func (a *attached) stop(early bool) {
	if early {
		a.s.In.SetWriteDeadline(time.Now()) // no end of input: it was cut off
	} else {
		a.s.In.CloseWrite() // the command is gone: stop sending it input
	}
	interruptRead(a.stdin)
	if early {
		a.s.In.CloseRead()
		a.s.Err.CloseRead()
		a.s.Ctl.CloseRead()
		interruptWrite(a.stdout)
		interruptWrite(a.stderr)
	}
	a.copiers.Wait()
}

func interruptRead(r io.Reader) {
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		d.SetReadDeadline(time.Now())
	}
}

func interruptWrite(w io.Writer) {
	if d, ok := w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		d.SetWriteDeadline(time.Now())
	}
}
