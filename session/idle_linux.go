package session

import "golang.org/x/sys/unix"

// idle reports whether the kernel holds none of l's bytes unsent or
// unacknowledged, so that a small write returns at once.
func (l *link) idle() bool {
	if l.raw == nil {
		return false
	}
	queued, errno := -1, error(nil)
	if err := l.raw.Control(func(fd uintptr) {
		queued, errno = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || errno != nil {
		return false
	}
	return queued == 0
}
