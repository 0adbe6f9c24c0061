//go:build race

package rawio

import "sync/atomic"

// ioSync gives the race detector what package syscall gives it for its
// own reads and writes: a write to a descriptor happens before a read
// that follows it, so that data handed over through a socket or a pipe in
// one process is not reported as a race.
var ioSync atomic.Uint64

func releaseIO() { ioSync.Add(1) }

// acquireIO also marks b, which the kernel just filled, as written: the
// race detector does not see the kernel's writes.
func acquireIO(b []byte) {
	ioSync.Load()
	copy(b, b)
}
