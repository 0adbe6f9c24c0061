//go:build linux

package shm

// Unread returns how many bytes c has written that its peer has not read
// yet, from the shared counters: tests wait on it to know that a Write
// filled the ring.
func Unread(c *Conn) int {
	return int(c.out.ctl.head.Load() - c.out.ctl.tail.Load())
}
