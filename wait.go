package farpipe

// Wait waits until the connection's goroutines have ended. After Abort that
// takes at most about a second: the connection is half-closed and read
// until the peer closes it, so that the ABORT frame is not destroyed by a
// reset. A program that aborts a Conn and then exits should Wait first, or
// a peer still reading a backlog may see a lost connection instead of the
// reason. After Close, Wait lasts until the peer has confirmed the end (at
// most the linger time, see WithLinger).
func (c *Conn) Wait() { c.s.Wait() }
