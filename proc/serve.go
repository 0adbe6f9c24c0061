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
)

// Stream is one channel of a session, both directions.
type Stream interface {
	io.Reader
	io.Writer
	io.ReaderFrom
	io.WriterTo
	CloseWrite() error
	CloseRead() error
}

// Streams are the channels a remote filter uses.
type Streams struct {
	In  Stream // client's input to the command; the command's output back
	Err Stream // the command's standard error
	Ctl Stream // signals to the command; its exit status back
}

// Serve runs argv (fixed by the caller: nothing from the streams can alter
// it) with its standard input, output and error connected to s through
// pipes, forwards the client's signals, and sends the exit status on Ctl.
// It returns once the command has exited and its output has been passed on.
func Serve(ctx context.Context, argv []string, s Streams) (Status, error) {
	if len(argv) == 0 {
		return Status{}, errors.New("farpipe: no command to run")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
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

	var out sync.WaitGroup
	out.Add(2)
	go func() { // the client's input to the command
		if _, err := s.In.WriteTo(p.stdinW); err != nil {
			s.In.CloseRead() // the command stopped reading: tell the client
		}
		p.stdinW.Close()
	}()
	go func() { // the command's output to the client
		defer out.Done()
		if _, err := s.In.ReadFrom(p.stdoutR); err == nil {
			s.In.CloseWrite()
		}
		p.stdoutR.Close() // the command's next write fails: EPIPE/SIGPIPE
	}()
	go func() {
		defer out.Done()
		if _, err := s.Err.ReadFrom(p.stderrR); err == nil {
			s.Err.CloseWrite()
		}
		p.stderrR.Close()
	}()
	go readLines(s.Ctl, func(verb string, n int) { // signals from the client
		if sig := syscall.Signal(n); verb == "signal" && forwarded[sig] {
			cmd.Process.Signal(sig)
		}
	})

	werr := cmd.Wait()
	out.Wait()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return Status{}, werr
	}
	st := statusOf(cmd.ProcessState)
	if err := writeStatus(s.Ctl, st); err != nil {
		return st, err
	}
	s.Ctl.CloseWrite()
	s.Ctl.CloseRead()
	s.In.CloseRead() // the command is gone: input the client still sends is not read
	return st, nil
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
