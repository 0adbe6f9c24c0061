//go:build linux

package shm

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The shared memory of a connection, version 1 (all integers in the
// host's byte order: both ends run on one host):
//
//	offset               size       contents
//	0                    4096       header: magic, version, ring size; then
//	                                the control block of ring 0 at 128 and
//	                                of ring 1 at 384
//	4096                 ringSize   data of ring 0, dialer to listener
//	4096 + ringSize      ringSize   data of ring 1, listener to dialer
//
// A control block is two lines of 128 bytes, each owned by one process, so
// that the writer and the reader of a ring do not fight over a cache line
// (128 bytes covers the adjacent-line prefetch of x86 and the 128-byte lines
// of some arm64 cores). The writer's line has head (bytes ever written),
// writerWaiting and writerClosed; the reader's line has tail (bytes ever
// read), readerWaiting and readerClosed. Only the owner writes its line,
// except that the other side clears a waiting word (a futex word, set while
// its owner sleeps) to wake it. head and tail only grow; head-tail is the
// number of unread bytes and the byte at position p is data[p mod
// ringSize].
//
// The counters are accessed with sync/atomic through pointers into the
// mapping. That is valid because: the mapping is page-aligned and every
// field is at an offset that is a multiple of its size (the compile-time
// checks below), so the 64-bit atomics are naturally aligned as the
// hardware requires; Go's atomics are sequentially consistent (the Go memory
// model) and compile to hardware instructions on the address given (on
// amd64 XCHG and LOCK CMPXCHG, with plain loads under x86's total store
// order; on arm64 LDAR, STLR and acquire-release read-modify-writes), which
// order memory accesses for every core, whichever process the other access
// comes from; and the memory is outside the Go heap, so the garbage collector
// neither moves nor scans it. A writer copies bytes into the ring, then
// stores head; a reader loads head, then copies the bytes out: the store
// and load give the release/acquire order that makes the bytes visible. The
// same holds for tail in the other direction.
//
// The process that wrote a counter keeps its own copy (ring.pos) and never
// reads it back from shared memory, and every value read from the peer is
// checked (0 <= head-tail <= ringSize), so a misbehaving peer can corrupt
// the stream but not make this process read or write outside the mapping.

const (
	headerSize = 4096
	lineSize   = 128
	version    = 1
	// magic is "farpshm1" read as a big-endian integer.
	magic = 0x66617270_73686d31

	minRingSize = 64 << 10
	maxRingSize = 1 << 30
)

// header is the first page of the shared memory.
type header struct {
	magic    uint64 // written by the dialer before it shares the memory
	version  uint32
	ringSize uint32
	_        [lineSize - 16]byte
	rings    [2]control
}

// control is the state of one ring.
type control struct {
	// The writer's line.
	head          atomic.Uint64 // bytes ever written
	writerWaiting atomic.Uint32 // 1: the writer sleeps (or is about to) on a full ring
	writerClosed  atomic.Uint32 // 1: no bytes after head; the reader gets EOF
	_             [lineSize - 16]byte
	// The reader's line.
	tail          atomic.Uint64 // bytes ever read
	readerWaiting atomic.Uint32 // 1: the reader sleeps (or is about to) on an empty ring
	readerClosed  atomic.Uint32 // 1: nobody reads any more; the writer gets EPIPE
	_             [lineSize - 16]byte
}

// Compile-time checks of the layout documented above.
var (
	_ [headerSize - unsafe.Sizeof(header{})]byte
	_ [unsafe.Sizeof(header{}) - (lineSize + 4*lineSize)]byte
	_ [(lineSize + 4*lineSize) - unsafe.Sizeof(header{})]byte
	_ [unsafe.Offsetof(header{}.rings) - lineSize]byte
	_ [lineSize - unsafe.Offsetof(header{}.rings)]byte
	_ [unsafe.Offsetof(control{}.tail) - lineSize]byte
	_ [lineSize - unsafe.Offsetof(control{}.tail)]byte
)

// errCorrupt means the peer left counters that cannot be right.
var errCorrupt = errors.New("farpipe: shm: the peer corrupted the shared ring counters")

// mapping is this process's view of the shared memory of a connection.
type mapping struct {
	mem      []byte
	hdr      *header
	ringSize int
}

// validRingSize reports whether n is a power of two within bounds.
func validRingSize(n int) bool {
	return n >= minRingSize && n <= maxRingSize && bits.OnesCount(uint(n)) == 1
}

// createMapping makes the sealed memfd of a new connection, maps it and
// writes the header. The caller owns fd and closes it once it is sent.
func createMapping(name string, ringSize int) (m *mapping, fd int, err error) {
	if !validRingSize(ringSize) {
		return nil, -1, fmt.Errorf("ring size %d is not a power of two from %d to %d", ringSize, minRingSize, maxRingSize)
	}
	fd, err = unix.MemfdCreate("farpipe-shm-"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, -1, fmt.Errorf("memfd_create: %w", err)
	}
	size := headerSize + 2*ringSize
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, -1, fmt.Errorf("sizing the shared memory: %w", err)
	}
	// The seals keep the peer from shrinking the file under our mapping,
	// which would make our next access a SIGBUS.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		return nil, -1, fmt.Errorf("sealing the shared memory: %w", err)
	}
	m, err = mapFd(fd, size)
	if err != nil {
		unix.Close(fd)
		return nil, -1, err
	}
	m.hdr.magic, m.hdr.version, m.hdr.ringSize = magic, version, uint32(ringSize)
	return m, fd, nil
}

// openMapping maps the memfd a dialer sent and checks that it is sealed
// against shrinking and carries a version-1 header.
func openMapping(fd int) (*mapping, error) {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_SHRINK == 0 {
		return nil, fmt.Errorf("the dialer's memory is not a memfd sealed against shrinking (seals %#x, %v)", seals, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat: %w", err)
	}
	ringSize := (int(st.Size) - headerSize) / 2
	if st.Size < headerSize || !validRingSize(ringSize) || st.Size != int64(headerSize+2*ringSize) {
		return nil, fmt.Errorf("the dialer's memory has a bad size %d", st.Size)
	}
	m, err := mapFd(fd, int(st.Size))
	if err != nil {
		return nil, err
	}
	if m.hdr.magic != magic || m.hdr.version != version || int(m.hdr.ringSize) != ringSize {
		err := fmt.Errorf("the dialer speaks another protocol (magic %#x, version %d, ring size %d)", m.hdr.magic, m.hdr.version, m.hdr.ringSize)
		m.unmap()
		return nil, err
	}
	return m, nil
}

// mapFd maps size bytes of fd, shared.
func mapFd(fd, size int) (*mapping, error) {
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	return &mapping{
		mem:      mem,
		hdr:      (*header)(unsafe.Pointer(&mem[0])),
		ringSize: (size - headerSize) / 2,
	}, nil
}

// data returns the data area of ring i.
func (m *mapping) data(i int) []byte {
	off := headerSize + i*m.ringSize
	return m.mem[off : off+m.ringSize : off+m.ringSize]
}

// unmap releases the mapping. Nothing may touch the memory afterwards.
func (m *mapping) unmap() error {
	return unix.Munmap(m.mem)
}
