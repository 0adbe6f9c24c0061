package transport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// IdleFunc returns a function that reports whether the kernel holds none
// of conn's bytes, unsent or unacknowledged (SIOCOUTQ), so that a small
// write to it returns at once; nil if conn is not a socket it can ask. The
// function allocates nothing; it must not be called concurrently.
func IdleFunc(conn syscall.Conn) func() bool {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil
	}
	queued := -1
	query := func(fd uintptr) {
		n, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		if err != nil {
			n = -1
		}
		queued = n
	}
	return func() bool {
		if err := raw.Control(query); err != nil {
			return false
		}
		return queued == 0
	}
}
