//go:build linux

package rawio

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// pipePair returns a pipe's ends, both non-blocking and held by the poller.
func pipePair(t *testing.T) (r, w *os.File) {
	t.Helper()
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "pipe-r"), os.NewFile(uintptr(fds[1]), "pipe-w")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func mustNew(t *testing.T, c syscall.Conn) *File {
	t.Helper()
	f, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCopy moves 16 MiB, more than a socket or pipe holds, through raw
// writes (Write, or Writev of many small and empty buffers) and raw reads,
// and compares checksums.
func TestCopy(t *testing.T) {
	data := make([]byte, 16<<20)
	rand.NewChaCha8([32]byte{7}).Read(data)
	want := sha256.Sum256(data)
	type ends struct {
		name string
		make func(t *testing.T) (r, w syscall.Conn, closeW func())
	}
	for _, e := range []ends{
		{"tcp", func(t *testing.T) (syscall.Conn, syscall.Conn, func()) {
			a, b := tcpPair(t)
			return b, a, func() { a.CloseWrite() }
		}},
		{"pipe", func(t *testing.T) (syscall.Conn, syscall.Conn, func()) {
			r, w := pipePair(t)
			return r, w, func() { w.Close() }
		}},
	} {
		for _, vec := range []bool{false, true} {
			name := e.name + "/write"
			if vec {
				name = e.name + "/writev"
			}
			t.Run(name, func(t *testing.T) {
				rc, wc, closeW := e.make(t)
				r, w := mustNew(t, rc), mustNew(t, wc)
				errc := make(chan error, 1)
				go func() {
					var err error
					if vec {
						// Pieces of 0 to 300 KiB: more buffers than one writev takes.
						var v net.Buffers
						rng := rand.New(rand.NewPCG(1, 2))
						for p := data; len(p) > 0; {
							n := min(len(p), rng.IntN(300<<10))
							v = append(v, p[:n])
							p = p[n:]
						}
						var n int64
						n, err = w.Writev(&v)
						if err == nil && (n != int64(len(data)) || len(v) != 0) {
							err = errors.New("writev left bytes unwritten")
						}
					} else {
						_, err = w.Write(data)
					}
					closeW()
					errc <- err
				}()
				var got bytes.Buffer
				buf := make([]byte, 100<<10)
				for {
					n, err := r.Read(buf)
					got.Write(buf[:n])
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("read: %v", err)
					}
				}
				if err := <-errc; err != nil {
					t.Fatalf("write: %v", err)
				}
				if sha256.Sum256(got.Bytes()) != want {
					t.Fatalf("%d bytes arrived, and differ from the %d sent", got.Len(), len(data))
				}
			})
		}
	}
}

// TestPollerErrors checks that a read that waits honours the descriptor's
// deadline, and that the peer's reset comes back as its errno.
func TestPollerErrors(t *testing.T) {
	a, b := tcpPair(t)
	r := mustNew(t, b)
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	b.SetReadDeadline(time.Time{})
	a.SetLinger(0)
	a.Close() // a reset
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after a reset: %v, want ECONNRESET", err)
	}
	w := mustNew(t, b)
	var err error
	for err == nil {
		_, err = w.Write(make([]byte, 1<<20))
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write after a reset: %v, want EPIPE or ECONNRESET", err)
	}
	b.Close()
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
}

// TestNewRefusesBlocking checks that New refuses a blocking descriptor,
// on which a raw call would sleep holding its P.
func TestNewRefusesBlocking(t *testing.T) {
	r, w, err := os.Pipe() // os.Pipe's ends are non-blocking: make one blocking
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := New(r); err != nil {
		t.Fatalf("New of a non-blocking pipe: %v", err)
	}
	w.Fd() // puts the descriptor in blocking mode
	if _, err := New(w); err == nil {
		t.Fatal("New took a blocking descriptor")
	}
}

// TestHandOff hands a variable from one goroutine to another through a
// pipe, as programs do through a socket: under the race detector, the raw
// write must happen before the raw read that gets its bytes, as with
// package syscall's calls, or this reports a race.
func TestHandOff(t *testing.T) {
	r, w := pipePair(t)
	rf, wf := mustNew(t, r), mustNew(t, w)
	var shared int
	errc := make(chan error, 1)
	go func() {
		shared = 42
		_, err := wf.Write([]byte{1})
		errc <- err
	}()
	if _, err := rf.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if shared != 42 {
		t.Fatalf("shared = %d after the hand-off, want 42", shared)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
