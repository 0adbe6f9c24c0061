package conntest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testBrokenPipe has the reader read a little and then go away, by
// CloseRead or by Close, while the writer keeps writing.
func testBrokenPipe(t *testing.T, s *suite) {
	for _, tc := range []struct {
		name  string
		close func(Conn) error
	}{
		{"CloseRead", Conn.CloseRead},
		{"Close", Conn.Close},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.both(t, func(e *env, w, r Conn) { brokenPipe(e, w, r, tc.close) })
		})
	}
}

// brokenPipe checks that the writer's Write fails with a broken pipe
// (syscall.EPIPE) within a second of the reader going away, that later
// Writes fail the same way, and that Drain reports it too.
func brokenPipe(e *env, w, r Conn, closeReader func(Conn) error) {
	type result struct {
		err     error
		at      time.Time
		written int
	}
	failed := make(chan result, 1)
	e.run(func() {
		src := newSource(7)
		buf := make([]byte, 64<<10)
		written := 0
		for {
			src.Read(buf)
			n, err := w.Write(buf)
			written += n
			if err != nil {
				failed <- result{err, time.Now(), written}
				return
			}
		}
	})
	if _, err := io.ReadFull(r, make([]byte, 100)); err != nil {
		e.fatalf("reader: reading the first 100 bytes: %s", describe(err))
	}
	closedAt := time.Now()
	if err := closeReader(r); err != nil {
		e.errorf("reader: closing: %s", describe(err))
	}
	res, ok := within(e, prompt+time.Second, failed)
	switch {
	case !ok:
		e.fatalf("writer: Write still succeeding or blocked %v after the reader went away; want a broken pipe within %v", prompt+time.Second, prompt)
	case res.at.Before(closedAt):
		e.errorf("writer: Write failed before the reader went away (after %d bytes): %s", res.written, describe(res.err))
	case res.at.Sub(closedAt) > prompt:
		e.errorf("writer: Write failed %v after the reader went away; want within %v", res.at.Sub(closedAt).Round(time.Millisecond), prompt)
	}
	if !errors.Is(res.err, syscall.EPIPE) {
		e.errorf("writer: Write after the reader went away: %s; want a broken pipe matching syscall.EPIPE", describe(res.err))
	}
	if _, err := w.Write([]byte("more")); !errors.Is(err, syscall.EPIPE) {
		e.errorf("writer: next Write: %s; want the broken pipe again", describe(err))
	}
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	if err := w.Drain(ctx); !errors.Is(err, syscall.EPIPE) {
		e.errorf("writer: Drain after the reader went away: %s; want a broken pipe matching syscall.EPIPE", describe(err))
	}
}

// testBackpressure checks that a reader that does not read stops the
// writer after a bounded number of bytes (the window), and that it then
// gets exactly the bytes the writer's Writes accepted.
func testBackpressure(e *env, w, r Conn) {
	bound := 2 * (e.cfg.window() + 1<<20)
	src := newSource(11)
	sent := sha256.New()
	buf := make([]byte, 64<<10)
	total := 0
	w.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		if total > bound {
			e.fatalf("writer: %d bytes accepted by a peer that does not read, more than the bound of %d (2*(window+1MiB)): no backpressure", total, bound)
		}
		src.Read(buf)
		n, err := w.Write(buf)
		sent.Write(buf[:n])
		total += n
		if err != nil {
			if msg := timeoutErr(err); msg != "" {
				e.fatalf("writer: Write against a full window at its deadline: %s", msg)
			}
			break
		}
		if n != len(buf) {
			e.fatalf("writer: Write of %d bytes returned n=%d and no error", len(buf), n)
		}
	}
	if total == 0 {
		e.errorf("writer: no byte accepted before the deadline: want the window's worth buffered")
	}
	e.logf("writer: %d bytes accepted before blocking (bound %d)", total, bound)
	w.SetWriteDeadline(time.Time{})
	if err := w.CloseWrite(); err != nil {
		e.fatalf("writer: CloseWrite: %s", describe(err))
	}
	got := sha256.New()
	n, err := io.Copy(got, r)
	if err != nil {
		e.fatalf("reader: read %d of %d bytes, then %s", n, total, describe(err))
	}
	if n != int64(total) || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		e.errorf("reader: got %d bytes (sha256 %x), want exactly the %d accepted by Write (sha256 %x)", n, got.Sum(nil)[:8], total, sent.Sum(nil)[:8])
	}
	if err := w.Drain(e.ctx); err != nil {
		e.errorf("writer: Drain: %s", describe(err))
	}
}

// testAbort checks that a.Abort fails b's pending and later operations with
// an error carrying the reason (and not io.EOF: an abort is not an end),
// and that a's own operations fail too.
func testAbort(e *env, a, b Conn) {
	const reason = "conntest: reason xyz"
	// a reads one byte of b's message: the rest is buffered at a, unread.
	if _, err := b.Write([]byte("unread")); err != nil {
		e.fatalf("b: Write: %s", describe(err))
	}
	if _, err := io.ReadFull(a, make([]byte, 1)); err != nil {
		e.fatalf("a: Read: %s", describe(err))
	}
	read := e.goErr(func() error {
		_, err := b.Read(make([]byte, 1024))
		return err
	})
	write := e.goErr(func() error {
		buf := make([]byte, 64<<10)
		for {
			if _, err := b.Write(buf); err != nil {
				return err // a never reads: this Write blocks until the abort
			}
		}
	})
	e.sleep(100 * time.Millisecond) // let them block
	if err := a.Abort(reason); err != nil {
		e.errorf("a: Abort: %s", describe(err))
	}
	check := func(what string, err error) {
		switch {
		case err == nil || errors.Is(err, io.EOF):
			e.errorf("%s: %s; want the abort's error, with the reason", what, describe(err))
		case !strings.Contains(err.Error(), reason):
			e.errorf("%s: %s; want an error whose text contains the reason %q", what, describe(err), reason)
		}
	}
	for _, op := range []struct {
		name string
		ch   <-chan error
	}{{"Read", read}, {"Write", write}} {
		err, ok := within(e, 2*time.Second, op.ch)
		if !ok {
			e.fatalf("b: %s pending when the peer aborted still blocked 2s later", op.name)
		}
		check("b: "+op.name+" pending when the peer aborted", err)
	}
	_, err := b.Read(make([]byte, 1))
	check("b: Read after the peer aborted", err)
	_, err = b.Write([]byte("x"))
	check("b: Write after the peer aborted", err)
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	check("b: Drain after the peer aborted", b.Drain(ctx))
	// b wrote to a, which did not read it all: a's Read must not hand out
	// those bytes after a ended the connection.
	if n, err := a.Read(make([]byte, 1024)); n != 0 || err == nil || errors.Is(err, io.EOF) {
		e.errorf("a: Read after its own Abort returned: %d bytes, %s; want no bytes and an error that is not io.EOF", n, describe(err))
	}
	if _, err := a.Write([]byte("x")); err == nil {
		e.errorf("a: Write after its own Abort succeeded")
	}
	// A Conn that reports why it ended (as *farpipe.Conn does) must give
	// the abort as the reason on both sides.
	for _, side := range []struct {
		name string
		c    Conn
	}{{"a", a}, {"b", b}} {
		if ec, ok := side.c.(interface{ Err() error }); ok {
			check(side.name+": Err after the abort", ec.Err())
		}
	}
}
