package rawio

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// A File does reads and writes on a non-blocking descriptor that Go's
// poller holds. Its methods return the errno of a failed call as a
// syscall.Errno, and the poller's errors (a deadline, a closed descriptor)
// as they come; callers wrap them as their descriptor's type does.
type File struct {
	rc syscall.RawConn
}

// New returns a File for c's descriptor, which must be non-blocking and
// held by Go's poller (a net.Conn's socket, an os.File opened with
// O_NONBLOCK), or an error if it cannot.
func New(c syscall.Conn) (*File, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &File{rc: rc}, nil
}

// Read reads into p what is there, waiting until something is; it returns
// io.EOF at the end.
func (f *File) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := f.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// Write writes all of p, waiting for room as it needs.
func (f *File) Write(p []byte) (int, error) {
	total := 0
	for total < len(p) {
		var n uintptr
		var errno syscall.Errno
		err := f.rc.Write(func(fd uintptr) bool {
			q := p[total:]
			for {
				n, _, errno = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&q[0])), uintptr(len(q)))
				if errno != syscall.EINTR {
					return errno != syscall.EAGAIN
				}
			}
		})
		switch {
		case err != nil:
			return total, err
		case errno != 0:
			return total, errno
		}
		total += int(n)
	}
	return total, nil
}

// maxIovecs is the most buffers one writev is given; the rest go in the
// next.
const maxIovecs = 64

// Writev writes all of v with writev calls, as v.WriteTo does on a socket,
// and consumes it.
func (f *File) Writev(v *net.Buffers) (int64, error) {
	var iov [maxIovecs]syscall.Iovec
	var total int64
	for {
		k := 0
		for _, b := range *v {
			if k == len(iov) {
				break
			}
			if len(b) > 0 {
				iov[k].Base = &b[0]
				iov[k].SetLen(len(b))
				k++
			}
		}
		if k == 0 {
			*v = (*v)[:0]
			return total, nil
		}
		var n uintptr
		var errno syscall.Errno
		err := f.rc.Write(func(fd uintptr) bool {
			for {
				n, _, errno = syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
				if errno != syscall.EINTR {
					return errno != syscall.EAGAIN
				}
			}
		})
		switch {
		case err != nil:
			return total, err
		case errno != 0:
			return total, errno
		}
		total += int64(n)
		consume(v, int(n))
	}
}

// consume drops the first n bytes of v.
func consume(v *net.Buffers, n int) {
	for len(*v) > 0 && n >= len((*v)[0]) {
		n -= len((*v)[0])
		*v = (*v)[1:]
	}
	if n > 0 {
		(*v)[0] = (*v)[0][n:]
	}
}

// Supported reports whether this system has raw calls (Linux).
const Supported = true
