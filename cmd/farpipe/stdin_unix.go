//go:build unix

package main

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollReader reads a file that stays in blocking mode (standard input is
// shared with other processes, so making it non-blocking is not ours to do)
// in a way that SetReadDeadline can interrupt: Read waits in poll(2) on the
// file and on a wake-up pipe together, and reads only once the file is
// readable. proc.Attach uses the deadline to stop reading standard input
// when the remote command has ended. A Read may still block if another
// process reads the same input between the poll and the read.
type pollReader struct {
	f    *os.File
	fd   int
	wake [2]int // a non-blocking pipe: a byte in it means "look at expired"

	mu      sync.Mutex
	expired bool
	timer   *time.Timer
	gen     int // of the deadline; a stale timer does nothing
}

// newPollReader returns a reader of f that deadlines can interrupt, or f
// itself if that cannot be arranged.
func newPollReader(f *os.File) io.Reader {
	r := &pollReader{f: f, fd: -1}
	// Not f.Fd(), which would make a non-blocking file blocking.
	if sc, err := f.SyscallConn(); err == nil {
		sc.Control(func(fd uintptr) { r.fd = int(fd) })
	}
	if r.fd < 0 {
		return f
	}
	if err := nonblockingPipe(&r.wake); err != nil {
		return f
	}
	return r
}

// nonblockingPipe makes a close-on-exec, non-blocking pipe. Not Pipe2, which
// macOS lacks: ForkLock keeps a concurrent exec from inheriting the pipe
// before it is marked close-on-exec.
func nonblockingPipe(p *[2]int) error {
	syscall.ForkLock.RLock()
	err := unix.Pipe(p[:])
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return err
	}
	for _, fd := range p {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return err
		}
	}
	return nil
}

func (r *pollReader) Read(p []byte) (int, error) {
	for {
		r.mu.Lock()
		expired := r.expired
		r.mu.Unlock()
		if expired {
			return 0, os.ErrDeadlineExceeded
		}
		fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}, {Fd: int32(r.wake[0]), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, -1)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil, fds[0].Revents != 0: // readable, at its end, or failed: read says which
			return r.f.Read(p)
		}
	}
}

// SetReadDeadline sets the deadline of pending and future Reads; the zero
// time means none.
func (r *pollReader) SetReadDeadline(t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.expired = false
	var b [16]byte
	for {
		if n, _ := unix.Read(r.wake[0], b[:]); n <= 0 {
			break
		}
	}
	switch d := time.Until(t); {
	case t.IsZero():
	case d <= 0:
		r.expireLocked()
	default:
		gen := r.gen
		r.timer = time.AfterFunc(d, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.gen == gen {
				r.expireLocked()
			}
		})
	}
	return nil
}

func (r *pollReader) expireLocked() {
	r.expired = true
	unix.Write(r.wake[1], []byte{1})
}

// Close releases the wake-up pipe (not the file). No Read may be running.
func (r *pollReader) Close() error {
	r.SetReadDeadline(time.Time{})
	unix.Close(r.wake[0])
	return unix.Close(r.wake[1])
}
