package main

import (
	"context"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// spliceFile moves n bytes of f from off into the pipe w without a copy
// through user memory. It reports false, nil when the platform or file
// cannot splice and nothing was written, so that the caller copies.
func spliceFile(w, f *os.File, off, n int64) (bool, error) {
	src, err := f.SyscallConn()
	if err != nil {
		return false, nil
	}
	dst, err := w.SyscallConn()
	if err != nil {
		return false, nil
	}
	var (
		serr    error
		started bool
	)
	cerr := src.Control(func(sfd uintptr) {
		werr := dst.Write(func(dfd uintptr) bool {
			for n > 0 {
				m, err := unix.Splice(int(sfd), &off, int(dfd), nil, int(min(n, 1<<20)), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				switch {
				case err == unix.EAGAIN:
					return false // wait until the pipe has room
				case err == unix.EINTR:
					continue
				case err != nil:
					serr = err
					return true
				case m == 0:
					serr = io.ErrUnexpectedEOF // the file shrank
					return true
				}
				started = true
				n -= m
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if cerr != nil {
		return false, nil
	}
	if serr == unix.EINVAL && !started {
		return false, nil
	}
	return true, serr
}

// interruptibleStdin returns a reader of in that a cancelled ctx
// interrupts, when in is a pipe or socket: a read blocked on a producer
// that never ends must not keep map from exiting on a signal. Anything else
// (a terminal, a device) is read as it is. done undoes it.
func interruptibleStdin(ctx context.Context, in *os.File) (io.Reader, func()) {
	fi, err := in.Stat()
	if err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return in, func() {}
	}
	fd, err := unix.Dup(int(in.Fd()))
	if err != nil {
		return in, func() {}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return in, func() {}
	}
	f := os.NewFile(uintptr(fd), in.Name())
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	return f, func() {
		stop()
		unix.SetNonblock(fd, false) // the file description is shared with in
		f.Close()
	}
}
