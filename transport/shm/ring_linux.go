//go:build linux

package shm

import (
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// chunk is the most a Read or Write moves before it publishes its
	// counter, so that the peer can work on the first part of a large
	// buffer while this side copies the rest.
	chunk = 64 << 10

	// spinFor is how long a Read or Write keeps looking at the ring
	// before it goes to sleep. While the peer streams, it publishes a chunk
	// every few microseconds and the spin saves a sleep and a wake-up,
	// which cost tens of microseconds when the sleeper's CPU has gone idle
	// (and more in virtual machines).
	spinFor = 20 * time.Microsecond

	// futex(2) operations, without FUTEX_PRIVATE_FLAG: the words are
	// shared between processes.
	futexWait = 0
	futexWake = 1
)

// ring is one direction of a connection as one end sees it: the ring this
// end writes, or the one it reads.
type ring struct {
	ctl  *control
	buf  []byte // the data area, a power of two long
	mask uint64
	pos  uint64 // our own counter: head of a ring we write, tail of one we read
}

func newRing(ctl *control, buf []byte) ring {
	return ring{ctl: ctl, buf: buf, mask: uint64(len(buf) - 1)}
}

// readable returns how many bytes the reader of r can read now.
func (r *ring) readable() (int, error) {
	n := r.ctl.head.Load() - r.pos
	if n > uint64(len(r.buf)) {
		return 0, errCorrupt
	}
	return int(n), nil
}

// writable returns how many bytes the writer of r can write now.
func (r *ring) writable() (int, error) {
	used := r.pos - r.ctl.tail.Load()
	if used > uint64(len(r.buf)) {
		return 0, errCorrupt
	}
	return len(r.buf) - int(used), nil
}

// get copies len(b) bytes out of r, at most readable(), publishes the new
// tail and wakes the writer if it sleeps.
func (r *ring) get(b []byte) {
	i := r.pos & r.mask
	n := copy(b, r.buf[i:])
	copy(b[n:], r.buf)
	r.pos += uint64(len(b))
	r.ctl.tail.Store(r.pos)
	// We store tail, then load writerWaiting; a writer going to sleep
	// stores writerWaiting, then loads tail. The atomics being
	// sequentially consistent, one of us sees the other's store: no
	// wake-up is lost.
	wake(&r.ctl.writerWaiting)
}

// put copies p into r, at most writable(), publishes the new head and
// wakes the reader if it sleeps.
func (r *ring) put(p []byte) {
	i := r.pos & r.mask
	n := copy(r.buf[i:], p)
	copy(r.buf, p[n:])
	r.pos += uint64(len(p))
	r.ctl.head.Store(r.pos)
	wake(&r.ctl.readerWaiting)
}

// sleep waits until ready may have become true, or the deadline d passes
// (then it returns os.ErrDeadlineExceeded). It spins for up to spinFor,
// then announces itself in waiting (a futex word in shared memory), checks
// ready once more, since a publication made before the announcement is
// only seen here while one made after it sees the announcement and wakes
// us, and sleeps on the futex. Whoever changes what ready depends on calls
// wake(waiting) afterwards: the peer after publishing, this end's Close,
// SetDeadline and the liveness monitor.
//
// The spin yields at each turn, to other goroutines (the peer may be one,
// on this P) and to other threads of this CPU (the peer's may be one: the
// scheduler often puts a woken thread on its waker's CPU). Without that, a
// peer that shares our CPU could not run before the spin ends, and every
// turn of the rings would cost a spin and a sleep on each side.
func sleep(waiting *atomic.Uint32, d *deadline, ready func() bool) error {
	start := time.Now()
	for !ready() {
		if time.Since(start) > spinFor {
			return sleepFutex(waiting, d, ready)
		}
		runtime.Gosched()
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) // cannot block
	}
	return nil
}

func sleepFutex(waiting *atomic.Uint32, d *deadline, ready func() bool) error {
	waiting.Store(1)
	defer waiting.Store(0)
	for waiting.Load() == 1 && !ready() {
		var ts *unix.Timespec
		if t := d.get(); t != nil {
			left := time.Until(*t)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			v := unix.NsecToTimespec(int64(left))
			ts = &v
		}
		// EINTR, EAGAIN (woken before we slept) and ETIMEDOUT are
		// sorted out by the loop.
		futex(waiting, futexWait, 1, ts)
	}
	return nil
}

// wake wakes the sleeper announced in waiting, if any. The load first
// keeps the common case (nobody sleeps) free of a write to a cache line
// the peer owns; the swap makes one wake-up per sleep.
func wake(waiting *atomic.Uint32) {
	if waiting.Load() != 0 && waiting.CompareAndSwap(1, 0) {
		futex(waiting, futexWake, math.MaxInt32, nil)
	}
}

// futex calls futex(2) on a word of the shared memory. The operations are
// not FUTEX_PRIVATE: the word is shared between processes. A sleeping
// futex holds its thread, not a P: the Go runtime treats it as any
// blocking system call.
func futex(addr *atomic.Uint32, op int, val uint32, ts *unix.Timespec) syscall.Errno {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), uintptr(op), uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	return e
}

// deadline is a deadline read by sleeping calls.
type deadline struct {
	t atomic.Pointer[time.Time]
}

func (d *deadline) set(t time.Time) {
	if t.IsZero() {
		d.t.Store(nil)
		return
	}
	d.t.Store(&t)
}

// get returns the deadline, or nil if there is none.
func (d *deadline) get() *time.Time { return d.t.Load() }

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool {
	t := d.t.Load()
	return t != nil && !time.Now().Before(*t)
}
