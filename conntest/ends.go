package conntest

import (
	"errors"
	"io"
	"net"
	"time"
)

// testEOFOnlyAfterCloseWrite checks that a reader that has read everything
// written so far waits (here: until its deadline) instead of reading
// io.EOF while the writer has not closed, and reads io.EOF once it has.
func testEOFOnlyAfterCloseWrite(e *env, w, r Conn) {
	msg := []byte("not the end yet")
	if _, err := w.Write(msg); err != nil {
		e.fatalf("writer: Write: %s", describe(err))
	}
	buf := make([]byte, 2*len(msg))
	if _, err := io.ReadFull(r, buf[:len(msg)]); err != nil {
		e.fatalf("reader: reading the %d bytes written: %s", len(msg), describe(err))
	}
	r.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	n, err := r.Read(buf)
	if n != 0 {
		e.errorf("reader: Read returned %d bytes (%q) that were never written", n, buf[:n])
	}
	if msg := timeoutErr(err); msg != "" {
		e.errorf("reader: Read at its deadline, all bytes read, writer not closed: %s", msg)
	}
	r.SetReadDeadline(time.Time{})
	if err := w.CloseWrite(); err != nil {
		e.fatalf("writer: CloseWrite: %s", describe(err))
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		e.errorf("reader: Read after the writer's CloseWrite: %d bytes, %s; want io.EOF", n, describe(err))
	}
	if err := w.Drain(e.ctx); err != nil {
		e.errorf("writer: Drain after the reader read io.EOF: %s", describe(err))
	}
}

// testReadAfterEOF checks that io.EOF is sticky.
func testReadAfterEOF(e *env, w, r Conn) {
	if _, err := w.Write([]byte("abc")); err != nil {
		e.fatalf("writer: Write: %s", describe(err))
	}
	if err := w.CloseWrite(); err != nil {
		e.fatalf("writer: CloseWrite: %s", describe(err))
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "abc" {
		e.fatalf("reader: ReadAll: %q, %s; want \"abc\", nil", got, describe(err))
	}
	buf := make([]byte, 16)
	for i := range 3 {
		if n, err := r.Read(buf); n != 0 || err != io.EOF {
			e.errorf("reader: Read number %d after io.EOF: %d bytes, %s; want io.EOF again", i+1, n, describe(err))
		}
	}
	if err := w.Drain(e.ctx); err != nil {
		e.errorf("writer: Drain: %s", describe(err))
	}
}

// testWriteAfterCloseWrite checks that Write fails after CloseWrite without
// sending anything, that CloseWrite is idempotent, and that the other
// direction keeps working (half-close).
func testWriteAfterCloseWrite(e *env, w, r Conn) {
	if _, err := w.Write([]byte("abc")); err != nil {
		e.fatalf("writer: Write: %s", describe(err))
	}
	if err := w.CloseWrite(); err != nil {
		e.fatalf("writer: CloseWrite: %s", describe(err))
	}
	if n, err := w.Write([]byte("def")); err == nil || n != 0 {
		e.errorf("writer: Write after CloseWrite: n=%d, %s; want n=0 and an error", n, describe(err))
	}
	w.CloseWrite() // a second CloseWrite must not panic or hang
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "abc" {
		e.errorf("reader: ReadAll: %q, %s; want \"abc\", nil (nothing written after CloseWrite)", got, describe(err))
	}
	// Half-close: the reader can still answer.
	if _, err := r.Write([]byte("pong")); err != nil {
		e.fatalf("reader: Write after the peer's CloseWrite: %s", describe(err))
	}
	if err := r.CloseWrite(); err != nil {
		e.fatalf("reader: CloseWrite: %s", describe(err))
	}
	got, err = io.ReadAll(w)
	if err != nil || string(got) != "pong" {
		e.errorf("writer: ReadAll after its own CloseWrite: %q, %s; want \"pong\", nil", got, describe(err))
	}
	if err := w.Drain(e.ctx); err != nil {
		e.errorf("writer: Drain: %s", describe(err))
	}
	if err := r.Drain(e.ctx); err != nil {
		e.errorf("reader: Drain: %s", describe(err))
	}
}

// testCloseTwice checks that a second Close is harmless, that Read and
// Write after Close fail with net.ErrClosed, and that the peer reads
// io.EOF from a side that closed without writing.
func testCloseTwice(e *env, a, b Conn) {
	if err := a.Close(); err != nil {
		e.errorf("a: Close: %s", describe(err))
	}
	if err := a.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		e.errorf("a: second Close: %s; want nil or net.ErrClosed", describe(err))
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		e.errorf("a: Read after Close: %s; want net.ErrClosed", describe(err))
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		e.errorf("a: Write after Close: %s; want net.ErrClosed", describe(err))
	}
	if got, err := io.ReadAll(b); err != nil || len(got) != 0 {
		e.errorf("b: ReadAll from a peer that closed without writing: %q, %s; want nothing, then io.EOF", got, describe(err))
	}
	if err := b.Close(); err != nil {
		e.errorf("b: Close: %s", describe(err))
	}
	if err := b.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		e.errorf("b: second Close: %s; want nil or net.ErrClosed", describe(err))
	}
}

// testCloseUnblocks checks that Close unblocks a Read waiting for data and
// a Write waiting for window space (the peer does not read), promptly and
// with net.ErrClosed.
func testCloseUnblocks(e *env, a, b Conn) {
	read := e.goErr(func() error {
		_, err := a.Read(make([]byte, 1024))
		return err
	})
	var written int
	write := e.goErr(func() error {
		buf := make([]byte, 64<<10)
		for written <= 2*(e.cfg.window()+1<<20) {
			n, err := a.Write(buf)
			written += n
			if err != nil {
				return err
			}
		}
		e.errorf("a: wrote %d bytes to a peer that does not read, without blocking", written)
		return net.ErrClosed
	})
	e.sleep(150 * time.Millisecond) // let both block
	if err := a.Close(); err != nil {
		e.errorf("a: Close: %s", describe(err))
	}
	for _, op := range []struct {
		name string
		ch   <-chan error
	}{{"Read", read}, {"Write", write}} {
		switch err, ok := within(e, prompt, op.ch); {
		case !ok:
			e.fatalf("a: %s pending during Close still blocked %v after Close returned", op.name, prompt)
		case !errors.Is(err, net.ErrClosed):
			e.errorf("a: %s pending during Close: %s; want net.ErrClosed", op.name, describe(err))
		}
	}
}
