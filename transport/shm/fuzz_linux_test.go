//go:build linux

package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The two fuzz targets play a hostile or broken dialer: FuzzMappingHeader
// hands the listener a memory whose size, seals and header are made up;
// FuzzRingCounters writes whatever it likes into the counters and waiting
// words it shares with a Conn. Neither may make the Conn panic, touch memory
// outside the mapping, return bytes that were never written, or block past
// its deadline.

// FuzzMappingHeader: openMapping accepts only a sealed memory of a valid size
// whose header is magic, version 1 and that size's ring size; anything else
// is an error, never a panic, and what it accepts is consistent.
func FuzzMappingHeader(f *testing.F) {
	valid := make([]byte, 16)
	binary.NativeEndian.PutUint64(valid[0:], magic)
	binary.NativeEndian.PutUint32(valid[8:], version)
	binary.NativeEndian.PutUint32(valid[12:], minRingSize)
	good := uint32(headerSize + 2*minRingSize)
	f.Add(valid, good, true)
	f.Add(valid, good, false)                        // not sealed
	f.Add(valid, good+1, true)                       // odd size
	f.Add(valid, uint32(headerSize+2*128<<10), true) // size and header disagree
	f.Add(valid, uint32(headerSize), true)
	f.Add(valid, uint32(100), true)
	f.Add(valid[:12], good, true) // no ring size
	f.Add([]byte("farpshm1\x02\x00\x00\x00"), good, true)
	f.Add(bytes.Repeat([]byte{0xff}, headerSize), good, true)
	f.Fuzz(func(t *testing.T, hdr []byte, size uint32, seal bool) {
		// Up to a ring of 2 MiB: the checks do not depend on larger sizes,
		// and the memory is only touched where the header is.
		size %= headerSize + 2*(2<<20) + 2
		fd, err := unix.MemfdCreate("farpipe-shm-fuzz", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Skip(err)
		}
		defer unix.Close(fd)
		if err := unix.Ftruncate(fd, int64(size)); err != nil {
			t.Fatal(err)
		}
		if len(hdr) > int(size) {
			hdr = hdr[:size]
		}
		if len(hdr) > 0 {
			if _, err := unix.Pwrite(fd, hdr, 0); err != nil {
				t.Fatal(err)
			}
		}
		if seal {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
				t.Fatal(err)
			}
		}
		m, err := openMapping(fd)
		if err != nil {
			if m != nil {
				t.Fatalf("openMapping returned a mapping and %v", err)
			}
			return
		}
		defer m.unmap()
		switch {
		case !seal:
			t.Fatal("openMapping accepted a memory that is not sealed against shrinking")
		case !validRingSize(m.ringSize) || len(m.mem) != headerSize+2*m.ringSize || int(size) != len(m.mem):
			t.Fatalf("openMapping accepted %d bytes with ring size %d", size, m.ringSize)
		case m.hdr.magic != magic || m.hdr.version != version || int(m.hdr.ringSize) != m.ringSize:
			t.Fatalf("openMapping accepted the header %#x, %d, %d", m.hdr.magic, m.hdr.version, m.hdr.ringSize)
		}
		for i := range 2 {
			if d := m.data(i); len(d) != m.ringSize {
				t.Fatalf("ring %d has %d bytes, want %d", i, len(d), m.ringSize)
			}
		}
	})
}

// Operations of FuzzRingCounters, one byte each, some followed by an
// argument of 8 bytes (a counter value) or 4 (a size or a word).
const (
	opPeerWrite  = iota // the peer writes n bytes into the ring we read, as it should
	opPeerRead          // the peer reads n bytes from the ring we write, as it should
	opHead              // the peer stores head of the ring we read: our position plus a delta
	opTail              // the peer stores tail of the ring we write: our position plus a delta
	opHeadAbs           // the same, any value
	opTailAbs           //
	opWaiting           // the peer stores our waiting words (we own them)
	opPeerClosed        // the peer sets writerClosed of the ring we read, readerClosed of the other
	opRead              // we Read up to n bytes, with a deadline
	opWrite             // we Write n bytes, with a deadline
	opCloseWrite        // we CloseWrite
	numOps
)

// fuzzDeadline bounds every Read and Write of FuzzRingCounters: a Conn
// whose peer publishes nothing sleeps until then.
const fuzzDeadline = 200 * time.Microsecond

// fuzzHang is how long one input of FuzzRingCounters may take at most.
const fuzzHang = 10 * time.Second

// FuzzRingCounters: a listener's Conn against a peer (the fuzzer) that
// moves the shared counters as a dialer should, or writes anything into
// them. As long as the peer behaves, the Conn reads exactly what the peer
// wrote and writes exactly what the peer reads; whatever the peer does, it
// never panics, never returns more than was asked or than the ring holds,
// and returns by its deadline.
func FuzzRingCounters(f *testing.F) {
	le := binary.LittleEndian
	arg4 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	arg8 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	seq := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	op := func(o byte) []byte { return []byte{o} }
	f.Add(seq(op(opPeerWrite), arg4(100), op(opRead), arg4(64), op(opRead), arg4(64), op(opRead), arg4(64)))
	f.Add(seq(op(opWrite), arg4(70000), op(opPeerRead), arg4(70000), op(opWrite), arg4(10)))
	f.Add(seq(op(opPeerWrite), arg4(5), op(opHead), arg8(minRingSize+1), op(opRead), arg4(64)))
	f.Add(seq(op(opHead), arg8(^uint64(0)), op(opRead), arg4(64)))
	f.Add(seq(op(opWrite), arg4(64), op(opTail), arg8(1), op(opWrite), arg4(64)))
	f.Add(seq(op(opTailAbs), arg8(1<<63), op(opWrite), arg4(1<<20)))
	f.Add(seq(op(opWaiting), arg4(1), op(opRead), arg4(1), op(opWaiting), arg4(7), op(opWrite), arg4(1)))
	f.Add(seq(op(opPeerWrite), arg4(3), op(opPeerClosed), op(opRead), arg4(2), op(opRead), arg4(2), op(opRead), arg4(2), op(opWrite), arg4(2)))
	f.Add(seq(op(opCloseWrite), op(opWrite), arg4(1), op(opRead), arg4(1)))
	f.Fuzz(func(t *testing.T, prog []byte) {
		// A hang is a failure: crash with every goroutine's stack, which
		// makes the fuzzer keep the input.
		watchdog := time.AfterFunc(fuzzHang, func() {
			buf := make([]byte, 1<<20)
			panic(fmt.Sprintf("FuzzRingCounters: an input ran for %v:\n%s", fuzzHang, buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		c, m := fuzzConn(t)
		defer c.Close()
		in, out := &m.hdr.rings[0], &m.hdr.rings[1] // the listener reads ring 0
		inData, outData := m.data(0), m.data(1)
		ringSize := uint64(m.ringSize)

		// What a well-behaved peer has written and not yet seen read, and
		// what we have written and the peer not yet read; broken: the peer
		// misbehaved, after which only safety is checked.
		var peerHead, peerTail uint64 // the peer's own counters
		var toRead, written []byte
		var seq byte
		broken := false
		buf := make([]byte, 256<<10) // up to four rings

		next := func(n int) []byte {
			if len(prog) < n {
				prog = append(prog, make([]byte, n-len(prog))...)
			}
			b := prog[:n]
			prog = prog[n:]
			return b
		}
		for steps := 0; len(prog) > 0 && steps < 64; steps++ {
			o := next(1)[0] % numOps
			switch o {
			case opPeerWrite:
				n := uint64(le.Uint32(next(4))) % (ringSize + 1)
				free := ringSize - (peerHead - in.tail.Load())
				if broken || free > ringSize {
					free = ringSize // the peer no longer knows better
				}
				n = min(n, free)
				for i := range n {
					seq++
					inData[(peerHead+i)%ringSize] = seq
					toRead = append(toRead, seq)
				}
				peerHead += n
				in.head.Store(peerHead)
				wake(&in.readerWaiting)
			case opPeerRead:
				n := uint64(le.Uint32(next(4)))
				n = min(n, out.head.Load()-peerTail)
				if n > ringSize {
					broken, n = true, 0
				}
				for i := range n {
					b := outData[(peerTail+i)%ringSize]
					if !broken && (len(written) == 0 || written[0] != b) {
						t.Fatalf("the peer read byte %d, not the one written next", b)
					}
					if len(written) > 0 {
						written = written[1:]
					}
				}
				peerTail += n
				out.tail.Store(peerTail)
				wake(&out.writerWaiting)
			case opHead, opHeadAbs:
				v := le.Uint64(next(8))
				if o == opHead {
					v += c.in.pos
				}
				peerHead, broken = v, true
				in.head.Store(v)
			case opTail, opTailAbs:
				v := le.Uint64(next(8))
				if o == opTail {
					v += c.out.pos
				}
				peerTail, broken = v, true
				out.tail.Store(v)
			case opWaiting:
				w := le.Uint32(next(4))
				in.readerWaiting.Store(w)
				out.writerWaiting.Store(w)
			case opPeerClosed:
				in.writerClosed.Store(1)
				out.readerClosed.Store(1)
			case opRead:
				b := buf[:le.Uint32(next(4))%uint32(len(buf)+1)]
				c.SetReadDeadline(time.Now().Add(fuzzDeadline))
				start := time.Now()
				n, err := c.Read(b)
				checkReturned(t, "Read", start, n, len(b), err)
				if n > int(ringSize) {
					t.Fatalf("Read returned %d bytes from a ring of %d", n, ringSize)
				}
				if !broken {
					switch {
					case !bytes.Equal(b[:n], toRead[:min(n, len(toRead))]):
						t.Fatalf("Read returned %d bytes that the peer did not write (%d written)", n, len(toRead))
					case err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && err != io.EOF:
						t.Fatalf("Read from a well-behaved peer: %v", err)
					case err == io.EOF && len(toRead) > 0:
						t.Fatalf("Read returned EOF with %d bytes unread", len(toRead))
					}
					toRead = toRead[n:]
				}
			case opWrite:
				p := buf[:le.Uint32(next(4))%uint32(len(buf)+1)]
				for i := range p {
					p[i] = byte(len(written) + i)
				}
				c.SetWriteDeadline(time.Now().Add(fuzzDeadline))
				start := time.Now()
				n, err := c.Write(p)
				checkReturned(t, "Write", start, n, len(p), err)
				written = append(written, p[:n]...)
				if !broken && n < len(p) && err == nil {
					t.Fatalf("Write wrote %d of %d bytes and no error", n, len(p))
				}
			case opCloseWrite:
				c.CloseWrite()
			}
			if !broken && c.in.pos > peerHead {
				t.Fatalf("we read up to %d, the peer wrote up to %d", c.in.pos, peerHead)
			}
		}
	})
}

// checkReturned checks what a Read or Write of want bytes returned: within
// its deadline (with room for a loaded machine), no more than asked.
func checkReturned(t *testing.T, what string, start time.Time, n, want int, err error) {
	t.Helper()
	if took := time.Since(start); took > fuzzDeadline+5*time.Second {
		t.Fatalf("%s took %v with a deadline of %v", what, took, fuzzDeadline)
	}
	if n < 0 || n > want {
		t.Fatalf("%s returned %d of %d bytes (%v)", what, n, want, err)
	}
}

// fuzzConn returns a listener's Conn over a new mapping, with a rendezvous
// socket whose other end stays open (the peer lives) until the test ends.
func fuzzConn(t *testing.T) (*Conn, *mapping) {
	t.Helper()
	m, fd, err := createMapping("fuzz", minRingSize)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		m.unmap()
		t.Fatal(err)
	}
	ours := os.NewFile(uintptr(fds[0]), "fuzz-rendezvous")
	peer := os.NewFile(uintptr(fds[1]), "fuzz-rendezvous-peer")
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		peer.Close()
		m.unmap()
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return newConn("fuzz", fc.(*net.UnixConn), m, false), m
}
