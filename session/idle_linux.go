package session

import "golang.org/x/sys/unix"

// idle reports whether the kernel holds none of l's bytes unsent or
// unacknowledged, so that a small write returns at once. Called with
// writing held (owner.lockWrite).
func (l *link) idle() bool {
	if l.raw == nil {
		return false
	}
	if l.outq == nil {
		l.outq = func(fd uintptr) {
			n, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
			if err != nil {
				n = -1
			}
			l.queued = n
		}
	}
	if err := l.raw.Control(l.outq); err != nil {
		return false
	}
	return l.queued == 0
}
