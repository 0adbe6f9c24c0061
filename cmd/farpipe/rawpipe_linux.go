package main

import (
	"io"
	"os"
	"strconv"
	"syscall"

	"github.com/farpipe/farpipe/internal/rawio"
)

// rawPipe opens a private, non-blocking description of f when f is a pipe
// or a named pipe, so that send and recv can move its bytes with raw
// system calls (internal/rawio): the end's goroutines then stay on one
// thread. The description is private (opened again through /proc), so
// that f's own stays blocking for the programs that share it. It returns
// nil when f is not a pipe or the description cannot be opened; then f is
// used as it is.
func rawPipe(f *os.File, write bool) *rawPipeFile {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return nil
	}
	flag := os.O_RDONLY
	if write {
		flag = os.O_WRONLY
	}
	own, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), flag|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	raw, err := rawio.New(own)
	if err != nil {
		own.Close()
		return nil
	}
	return &rawPipeFile{own: own, raw: raw, name: f.Name()}
}

// rawPipeFile reads or writes a pipe with raw system calls, and reports
// errors as *os.File does.
type rawPipeFile struct {
	own  *os.File // the private description
	raw  *rawio.File
	name string // f's name, for errors
}

func (p *rawPipeFile) Read(b []byte) (int, error) {
	n, err := p.raw.Read(b)
	return n, p.pathError("read", err)
}

func (p *rawPipeFile) Write(b []byte) (int, error) {
	n, err := p.raw.Write(b)
	return n, p.pathError("write", err)
}

// Close closes the private description: a consumer sees the end of the
// stream only once every description of the pipe's writing end is closed.
func (p *rawPipeFile) Close() error { return p.own.Close() }

func (p *rawPipeFile) pathError(op string, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		return &os.PathError{Op: op, Path: p.name, Err: errno}
	}
	return err
}

var _ io.ReadWriteCloser = (*rawPipeFile)(nil)
