package secure

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/rawio"
	"github.com/farpipe/farpipe/session"
)

// TestSocketRaw checks that the sockets socket wraps move bytes with raw
// calls where the system has them (reads, and writes and writevs of 64 KiB
// or more; smaller ones through the socket's own), and report errors as the socket's own methods do: the end as
// io.EOF, a deadline as a timeout, a reset and a closed socket as
// *net.OpError matching their errno and net.ErrClosed.
func TestSocketRaw(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			a, b := socketPair(t, network)
			wa, wb := socket(a), socket(b)
			if sc, ok := wb.(*socketConn); !ok || rawio.Supported && sc.raw == nil {
				t.Fatalf("socket(%T) gave %T, without raw calls", b, wb)
			}
			bw, ok := wa.(session.BuffersWriter)
			if !ok {
				t.Fatalf("socket(%T) is no session.BuffersWriter", a)
			}
			big := bytes.Repeat([]byte("farpipe!"), 40<<10) // 320 KiB: raw writes
			want := append(append(append([]byte("small"), big...), big...), "tail"...)
			done := make(chan error, 1)
			go func() {
				defer closeWrite(a)
				if _, err := wa.Write([]byte("small")); err != nil {
					done <- err
					return
				}
				if _, err := wa.Write(big); err != nil {
					done <- err
					return
				}
				v := net.Buffers{big[:1000], nil, big[1000:], []byte("tail")}
				_, err := bw.WriteBuffers(&v)
				done <- err
			}()
			got, err := io.ReadAll(wb)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("writing: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d, or they differ", len(got), len(want))
			}
			if n, err := wb.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Fatalf("read after the end: %d, %v, want io.EOF", n, err)
			}

			a2, b2 := socketPair(t, network)
			r := socket(b2)
			b2.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			_, err = r.Read(make([]byte, 10))
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read past the deadline: %v, want a timeout", err)
			}
			b2.SetReadDeadline(time.Time{})
			if tc, ok := a2.(*net.TCPConn); ok {
				tc.SetLinger(0) // Close resets the connection
				a2.Close()
				_, err = r.Read(make([]byte, 10))
				var oe *net.OpError
				if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) || oe.Op != "read" || oe.Net != "tcp" {
					t.Fatalf("read after a reset: %v, want a *net.OpError for read on tcp matching ECONNRESET", err)
				}
			} else {
				a2.Close()
				var werr error
				for werr == nil { // the peer's end is gone: EPIPE, from the kernel
					_, werr = r.Write(big)
				}
				var oe *net.OpError
				if !errors.Is(werr, syscall.EPIPE) || !errors.As(werr, &oe) || oe.Op != "write" || oe.Net != "unix" {
					t.Fatalf("write after the peer closed: %v, want a *net.OpError for write on unix matching EPIPE", werr)
				}
			}
			b2.Close()
			if _, err := r.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read after Close: %v, want net.ErrClosed", err)
			}
			if _, err := r.Write(big); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("write after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
