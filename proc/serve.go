package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Stream is one channel of a session, both directions. CloseRead must wake
// a Read or WriteTo blocked on the stream, and CloseWrite or a write
// deadline a Write or ReadFrom (the session's streams do).
type Stream interface {
	io.Reader
	io.Writer
	io.ReaderFrom
	io.WriterTo
	CloseWrite() error
	CloseRead() error
	SetWriteDeadline(time.Time) error
}

// Streams are the channels a remote filter uses.
type Streams struct {
	In  Stream // client's input to the command; the command's output back
	Err Stream // the command's standard error
	Ctl Stream // signals to the command; its exit status back
}

// ErrTerminated means Serve's context ended before the command did, and
// Serve terminated it.
var ErrTerminated = errors.New("farpipe: the command was terminated before it finished")

// KillGrace is how long a command has between the SIGTERM that Serve sends
// when its context ends and the SIGKILL that follows.
const KillGrace = 2 * time.Second

// Serve runs argv (fixed by the caller: nothing from the streams can alter
// it) with its standard input, output and error connected to s through
// pipes, forwards the client's signals, and sends the exit status on Ctl.
// It returns once the command has exited and its output has been passed on.
//
// The command leads a process group of its own: forwarded signals reach
// the whole group, and a signal sent to the caller's group does not reach
// it. If ctx ends first, Serve sends SIGTERM to the group, SIGKILL after
// KillGrace, stops its copying and returns an error matching ErrTerminated
// (with no status on Ctl: the caller tells the client why, by aborting the
// session). Serve starts goroutines and waits for all of them.
func Serve(ctx context.Context, argv []string, s Streams) (Status, error) {
	if len(argv) == 0 {
		return Status{}, errors.New("farpipe: no command to run")
	}
	if ctx.Err() != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrTerminated, context.Cause(ctx))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	OwnGroup(cmd)
	var p pipes
	if err := p.open(); err != nil {
		return Status{}, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.stdinR, p.stdoutW, p.stderrW
	if err := cmd.Start(); err != nil {
		p.closeAll()
		msg := fmt.Sprintf("farpipe: cannot run %s: %v\n", argv[0], err)
		s.Err.Write([]byte(msg))
		s.Err.CloseWrite()
		s.In.CloseWrite()
		st := Status{Code: 127}
		writeStatus(s.Ctl, st)
		s.Ctl.CloseWrite()
		return st, fmt.Errorf("farpipe: cannot run %s: %v", argv[0], err)
	}
	p.closeChildEnds()
	r := &running{cmd: cmd, p: &p, s: s}
	r.start()
	return r.wait(ctx)
}

// running is a started command and the goroutines that serve it.
type running struct {
	cmd *exec.Cmd
	p   *pipes
	s   Streams

	copiers sync.WaitGroup // stdin, stdout, stderr, control
	out     chan struct{}  // closed when stdout and stderr reached the client
	exited  chan error     // cmd.Wait's result
}

// start starts the goroutines, which wait (or stop) owns.
func (r *running) start() {
	p, s := r.p, r.s
	r.out = make(chan struct{})
	r.exited = make(chan error, 1)
	var out sync.WaitGroup
	out.Add(2)
	r.copiers.Add(5)
	go func() { // the client's input to the command
		defer r.copiers.Done()
		if _, err := s.In.WriteTo(p.stdinW); err != nil {
			s.In.CloseRead() // the command stopped reading: tell the client
		}
		p.stdinW.Close()
	}()
	go func() { // the command's output to the client
		defer r.copiers.Done()
		defer out.Done()
		if _, err := s.In.ReadFrom(p.stdoutR); err == nil {
			s.In.CloseWrite()
		}
		p.stdoutR.Close() // the command's next write fails: EPIPE/SIGPIPE
	}()
	go func() {
		defer r.copiers.Done()
		defer out.Done()
		if _, err := s.Err.ReadFrom(p.stderrR); err == nil {
			s.Err.CloseWrite()
		}
		p.stderrR.Close()
	}()
	go func() {
		defer r.copiers.Done()
		out.Wait()
		close(r.out)
	}()
	go func() { // signals from the client
		defer r.copiers.Done()
		readLines(s.Ctl, func(verb string, n int) {
			if sig := syscall.Signal(n); verb == "signal" && forwarded[sig] {
				SignalGroup(r.cmd.Process.Pid, sig)
			}
		})
	}()
	go func() { r.exited <- r.cmd.Wait() }() // ends with the command: wait receives it
}

// wait waits for the command and its output, or for ctx to end, and then
// for every goroutine.
func (r *running) wait(ctx context.Context) (Status, error) {
	var werr error
	select {
	case werr = <-r.exited:
	case <-ctx.Done():
		return r.terminate(ctx, true)
	}
	select {
	case <-r.out:
	case <-ctx.Done(): // something the command started still holds its output
		return r.terminate(ctx, false)
	}
	st, err := r.status(werr)
	if err == nil {
		err = writeStatus(r.s.Ctl, st)
	}
	r.s.Ctl.CloseWrite()
	r.stop()
	return st, err
}

// terminate ends the command's process group (SIGTERM, SIGKILL after
// KillGrace) and stops the copying. running says whether the command
// itself had not exited yet.
func (r *running) terminate(ctx context.Context, running bool) (Status, error) {
	pid := r.cmd.Process.Pid
	SignalGroup(pid, syscall.SIGTERM)
	var werr error
	if running {
		t := time.NewTimer(KillGrace)
		select {
		case werr = <-r.exited:
		case <-t.C:
			SignalGroup(pid, syscall.SIGKILL)
			werr = <-r.exited
		}
		t.Stop()
	}
	// What the command started gets no more time than the command did.
	SignalGroup(pid, syscall.SIGKILL)
	// No end of stream for output that was cut off: the copying stops.
	r.s.In.SetWriteDeadline(time.Now())
	r.s.Err.SetWriteDeadline(time.Now())
	r.p.stdoutR.Close()
	r.p.stderrR.Close()
	r.stop()
	st, _ := r.status(werr)
	return st, fmt.Errorf("%w (%s): %w", ErrTerminated, st, context.Cause(ctx))
}

// stop ends the goroutines still copying and waits for them all.
func (r *running) stop() {
	r.s.Ctl.CloseRead()
	r.s.In.CloseRead() // the command is gone: input the client still sends is not read
	// Something the command started may hold its input without reading.
	r.p.stdinW.SetWriteDeadline(time.Now())
	r.copiers.Wait()
}

// status turns what cmd.Wait returned into a Status.
func (r *running) status(werr error) (Status, error) {
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return Status{}, werr
	}
	return statusOf(r.cmd.ProcessState), nil
}

// pipes are the three pipes between this process and the command.
type pipes struct {
	stdinR, stdinW, stdoutR, stdoutW, stderrR, stderrW *os.File
}

func (p *pipes) open() error {
	var err error
	if p.stdinR, p.stdinW, err = os.Pipe(); err != nil {
		return err
	}
	if p.stdoutR, p.stdoutW, err = os.Pipe(); err != nil {
		p.closeAll()
		return err
	}
	if p.stderrR, p.stderrW, err = os.Pipe(); err != nil {
		p.closeAll()
		return err
	}
	return nil
}

func (p *pipes) closeChildEnds() {
	p.stdinR.Close()
	p.stdoutW.Close()
	p.stderrW.Close()
}

func (p *pipes) closeAll() {
	for _, f := range []*os.File{p.stdinR, p.stdinW, p.stdoutR, p.stdoutW, p.stderrR, p.stderrW} {
		if f != nil {
			f.Close()
		}
	}
}
