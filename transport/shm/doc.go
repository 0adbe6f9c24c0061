// Package shm is the farpipe transport over shared memory between two
// processes on one Linux host, registered under the scheme "shm". The bytes
// go through two ring buffers in memory both processes map, never through
// the kernel's socket buffers: a Write copies into a ring and a Read copies
// out of it, a system call is only made to wake a side that sleeps.
//
// Importing the package registers the transport:
//
//	import _ "github.com/farpipe/farpipe/transport/shm"
//
// [New] returns the same transport for direct use without the registry.
// On systems other than Linux the scheme is registered too, and Dial and
// Listen fail with "farpipe: shm:// needs Linux" (wrapping
// errors.ErrUnsupported).
//
// # Addresses
//
// shm://NAME, where NAME is 1 to 64 letters, digits, '.', '_' or '-'. A
// listener owns NAME on the host (more exactly, in its network namespace)
// until it is closed; a second Listen on it fails. Listener.Addr().String()
// and the connections' addresses are NAME, of network "shm".
//
// # Connections
//
// Listen binds the Unix socket "@farpipe-shm-NAME" in the abstract
// namespace, used only for the rendezvous and for liveness: it leaves no
// file behind, even after a crash. Dial connects to it, creates a memfd of
// 4 KiB + 2 × 4 MiB (a header page, then one ring per direction), seals it
// against shrinking and growing, maps it and sends it to the listener with
// SCM_RIGHTS; Accept checks the seals, the size and the header, and maps
// it too. The socket then stays open, unused, for the life of the
// connection.
//
// Each ring has one writing and one reading process. The header holds, per
// ring, the bytes ever written (head) and read (tail) as 64-bit counters on
// separate cache lines, read and written with sync/atomic through pointers
// into the mapping (layout_linux.go says why that is sound), and two
// futex words, readerWaiting and writerWaiting.
//
// # Waiting
//
// A Read that finds its ring empty, or a Write that finds it full, looks
// again for up to 20µs (yielding to other goroutines and threads), then
// sets its waiting word, looks once more, and sleeps on the word with
// FUTEX_WAIT.
// The other side, after moving head or tail, wakes it with FUTEX_WAKE only
// if the word is set. An idle connection costs no CPU. Futexes rather than
// eventfds in the runtime poller: when one P is busy, the poller can take
// up to milliseconds to notice a ready descriptor, which capped throughput
// at a fraction of what the rings allow. The price is that a Read or Write
// asleep on an idle connection holds an OS thread, as blocking file I/O
// does (the Go runtime allows 10000 by default).
//
// # Semantics
//
// Conn is a net.Conn with CloseWrite. Read blocks until data, end of stream
// or error; Write blocks while the ring is full (backpressure) and writes
// all of p unless it fails; both honour deadlines, and Close unblocks them.
// Concurrent Reads are serialized, as are concurrent Writes. CloseWrite
// makes the peer read io.EOF after the data; Close does that too, and makes
// the peer's Writes fail with an error wrapping syscall.EPIPE.
//
// If the peer's process dies, the kernel closes its end of the rendezvous
// socket; a goroutine of each connection is blocked reading that socket, and
// then marks the connection broken and wakes its sleepers. Reads return
// what the peer had written, then an error wrapping syscall.ECONNRESET (not
// io.EOF: the stream was not ended), and Writes fail with the same error,
// within milliseconds. A process that exits without closing the connection
// looks the same as one that crashed.
//
// # Limits
//
// Both processes must be on one host and in one network namespace (the
// abstract socket namespace is per network namespace). Any process in that
// namespace can connect to a listener: the abstract namespace has no file
// permissions. Authentication belongs to the session layer above; the
// transport only makes sure that a hostile or buggy peer cannot make it
// read or write outside the mapping (the peer's counters are checked, the
// memfd is sealed) or hang Accept for more than 5 seconds. A peer can still
// corrupt or stall the stream, as on any connection. Each connection maps
// 8 MiB + 4 KiB, allocated as it is first used. A process that forks
// without exec keeps the peer's view of the connection alive in the child.
package shm
