package rawio

import (
	"errors"
	"io"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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
// O_NONBLOCK), or an error if it is not: a raw call on a blocking
// descriptor would sleep in the kernel holding its P.
func New(c syscall.Conn) (*File, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var flags int
	cerr := rc.Control(func(fd uintptr) {
		flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0)
	})
	switch {
	case cerr != nil:
		return nil, cerr
	case err != nil:
		return nil, err
	case flags&unix.O_NONBLOCK == 0:
		return nil, errBlocking
	}
	return &File{rc: rc}, nil
}

var errBlocking = errors.New("farpipe: the descriptor is blocking: raw calls need a non-blocking one")

// Read reads into p what is there, waiting until something is; it returns
// io.EOF at the end.
func (f *File) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := call(f.rc.Read, syscall.SYS_READ, unsafe.Pointer(&p[0]), len(p))
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	acquireIO(p[:n])
	return n, err
}

// Write writes all of p, waiting for room as it needs.
func (f *File) Write(p []byte) (int, error) {
	releaseIO()
	total := 0
	for total < len(p) {
		n, err := call(f.rc.Write, syscall.SYS_WRITE, unsafe.Pointer(&p[total]), len(p)-total)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// maxIovecs is the most buffers one writev is given; the rest go in the
// next.
const maxIovecs = 64

// Writev writes all of v with writev calls, as v.WriteTo does on a socket,
// and consumes it.
func (f *File) Writev(v *net.Buffers) (int64, error) {
	releaseIO()
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
		n, err := call(f.rc.Write, syscall.SYS_WRITEV, unsafe.Pointer(&iov[0]), k)
		total += int64(n)
		consume(v, n)
		if err != nil {
			return total, err
		}
	}
}

// call makes the raw call trap(fd, p, n) within wait (the RawConn's Read
// or Write), again on EINTR, and waits in the poller on EAGAIN. It returns
// the call's result, or its errno, or the poller's error.
func call(wait func(func(fd uintptr) bool) error, trap uintptr, p unsafe.Pointer, n int) (int, error) {
	var r uintptr
	var errno syscall.Errno
	err := wait(func(fd uintptr) bool {
		for {
			r, _, errno = syscall.RawSyscall(trap, fd, uintptr(p), uintptr(n))
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
	}
	return int(r), nil
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
