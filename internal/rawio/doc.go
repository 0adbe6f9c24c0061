// Package rawio reads and writes non-blocking descriptors (sockets, and
// pipes opened non-blocking) with system calls that Go's scheduler does not
// see, and waits in Go's poller when a call would block.
//
// A goroutine in an ordinary system call lets go of its P. When the call
// lasts longer than the runtime's monitor tick (20 µs; copying 256 KiB
// takes longer) and another goroutine is ready, the monitor hands the P to
// another thread. A pipe end is two goroutines that hand bytes to each
// other, so with an ordinary call per copy they spread over threads and
// cores: every hand-off wakes a thread, and the bytes one goroutine put in
// a ring are read on another core. A raw call on a non-blocking descriptor
// never sleeps in the kernel: it copies what fits and returns, so it keeps
// its P for one copy at most, and the end's goroutines stay on one thread,
// as a single-threaded copier such as gocopy does. docs/performance.md has
// the measurements.
//
// The cost is that the runtime cannot stop the world during a call (a
// garbage collection waits for one copy). The race detector does not see
// raw calls, so under it (race.go) a write happens before the reads that
// follow it, as package syscall declares for its own calls, and a read
// marks the bytes it got as written.
package rawio
