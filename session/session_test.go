package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair returns two established sessions over loopback TCP.
func pair(t testing.TB, cfg *Config) (client, server *Session) {
	t.Helper()
	return pairWith(t, cfg, cfg)
}

// pairWith is pair with a configuration for each side.
func pairWith(t testing.TB, cfg, scfg *Config) (client, server *Session) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := context.Background()
	type res struct {
		s   *Session
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		s, err := Server(ctx, withIdle(c), scfg)
		ch <- res{s, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client, err = Client(ctx, withIdle(c), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		client.fail(errFinished)
		r.s.fail(errFinished)
		client.Wait()
		r.s.Wait()
	})
	return client, r.s
}

// writeAll writes data to st in a goroutine, closes st and waits until
// the peer confirms delivery; the channel delivers the first error, or nil.
func writeAll(st *Stream, data []byte) <-chan error {
	errc := make(chan error, 1)
	go func() {
		if _, err := st.Write(data); err != nil {
			errc <- err
			return
		}
		st.CloseWrite()
		errc <- st.Drain(context.Background())
	}()
	return errc
}

func TestTransfer(t *testing.T) {
	for _, size := range []int{0, 1, 100 << 10, 40 << 20} {
		c, s := pair(t, nil)
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{1}).Read(data)
		errc := writeAll(c.Stream(0), data)
		got, err := io.ReadAll(s.Stream(0))
		if err != nil {
			t.Fatalf("size %d: read: %v", size, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("size %d: drain: %v", size, err)
		}
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("size %d: data differs (got %d bytes)", size, len(got))
		}
		c.Close()
		s.Close()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session did not end after Close on both sides")
		}
		if c.Err() != nil || s.Err() != nil {
			t.Fatalf("clean end: %v / %v", c.Err(), s.Err())
		}
	}
}

func TestBrokenPipe(t *testing.T) {
	c, s := pair(t, nil)
	buf := make([]byte, 100)
	go func() {
		io.ReadFull(s.Stream(0), buf)
		s.Stream(0).Read(buf[:1]) // delivers the first 100
		s.Stream(0).CloseRead()
	}()
	var err error
	for err == nil {
		_, err = c.Stream(0).Write(bytes.Repeat([]byte{'x'}, 1<<16))
	}
	var bp *BrokenPipeError
	if !errors.As(err, &bp) || !errors.Is(err, ErrBrokenPipe) {
		t.Fatalf("got %v, want broken pipe", err)
	}
	if bp.Delivered < 100 {
		t.Fatalf("delivered %d, want >= 100", bp.Delivered)
	}
}

func TestAbortReachesPeer(t *testing.T) {
	c, s := pair(t, nil)
	c.Abort("out of disk")
	_, err := s.Stream(0).Read(make([]byte, 1))
	var ae *AbortError
	if !errors.As(err, &ae) || !ae.Remote || ae.Reason != "out of disk" {
		t.Fatalf("got %v", err)
	}
}

// failingSink accepts part of the first write it is given, frac of it,
// and fails it; later writes go to buf whole.
type failingSink struct {
	frac   float64
	failed bool
	buf    bytes.Buffer
}

var errSink = errors.New("sink failed")

func (f *failingSink) Write(p []byte) (int, error) {
	if f.failed {
		return f.buf.Write(p)
	}
	f.failed = true
	n := int(float64(len(p)) * f.frac)
	f.buf.Write(p[:n])
	return n, errSink
}

// TestWriteToShortWrite pins the checksum over a write that fails part
// way, before, at and after the half that WriteTo sums ahead of writing:
// a second WriteTo carries on and the stream still ends verified.
func TestWriteToShortWrite(t *testing.T) {
	for _, frac := range []float64{0, 0.25, 0.5, 0.75, 1} {
		c, s := pair(t, nil)
		data := randomBytes(3<<20, byte(10*frac))
		errc := writeAll(c.Stream(0), data)
		sink := &failingSink{frac: frac}
		if _, err := s.Stream(0).WriteTo(sink); err != errSink {
			t.Fatalf("frac %v: first WriteTo: %v, want the sink's error", frac, err)
		}
		if _, err := s.Stream(0).WriteTo(sink); err != nil {
			t.Fatalf("frac %v: second WriteTo: %v, want the verified end", frac, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("frac %v: drain: %v", frac, err)
		}
		if !bytes.Equal(sink.buf.Bytes(), data) {
			t.Fatalf("frac %v: %d bytes delivered differ from the %d sent", frac, sink.buf.Len(), len(data))
		}
	}
}
