package farpipe_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/faults"
	"github.com/farpipe/farpipe/wire"
)

// faultPipe returns a dialed and an accepted Conn whose connection runs
// through a fault proxy, with short keepalives so that black holes are
// found quickly.
func faultPipe(t *testing.T, opts ...farpipe.Option) (d, a *farpipe.Conn, p *faults.Proxy) {
	t.Helper()
	ctx := context.Background()
	opts = append([]farpipe.Option{
		farpipe.WithKeepalive(250*time.Millisecond, time.Second),
		farpipe.WithResumeTimeout(20 * time.Second),
		farpipe.WithBackoffMax(200 * time.Millisecond),
	}, opts...)
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	p = faults.New(t, ln.Addr().String())
	accepted := make(chan *farpipe.Conn, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	d, err = farpipe.Dial(ctx, p.Addr(), append(opts, farpipe.WithToken(ln.Token()))...)
	if err != nil {
		t.Fatal(err)
	}
	a = <-accepted
	t.Cleanup(func() {
		d.Abort("test over")
		a.Abort("test over")
		ln.Close()
	})
	return d, a, p
}

// sendAll writes data to c in random-sized chunks, closes and drains.
func sendAll(c *farpipe.Conn, data []byte) error {
	rng := rand.New(rand.NewPCG(1, 2))
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(256<<10))
		if _, err := c.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Drain(ctx)
}

// readAll reads everything from c at most rate bytes per second (0: as
// fast as it comes).
func readAll(c *farpipe.Conn, rate int) ([]byte, error) {
	return readAllHurt(c, rate, 0, nil)
}

// readAllHurt is readAll that calls hurt, on the reader's goroutine, once
// at least at bytes have been read.
func readAllHurt(c *farpipe.Conn, rate, at int, hurt func()) ([]byte, error) {
	var out []byte
	buf := make([]byte, 256<<10)
	start := time.Now()
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if hurt != nil && len(out) >= at {
			hurt()
			hurt = nil
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if rate > 0 {
			if ahead := time.Duration(float64(len(out))/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead) // pacing the reader: the load under test
			}
		}
	}
}

func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// transfer sends data one way through the pipe and checks that exactly
// the same bytes arrive; hurt, if not nil, is called on the test's
// goroutine once a quarter of them was read.
func transfer(t *testing.T, from, to *farpipe.Conn, data []byte, rate int, hurt func()) {
	t.Helper()
	if err := transferErr(from, to, data, rate, hurt); err != nil {
		t.Fatal(err)
	}
}

// transferErr is transfer for any goroutine: it returns what went wrong.
func transferErr(from, to *farpipe.Conn, data []byte, rate int, hurt func()) error {
	errc := make(chan error, 1)
	go func() { errc <- sendAll(from, data) }()
	got, err := readAllHurt(to, rate, len(data)/4, hurt)
	if err != nil {
		to.Abort("test failed") // unblocks the writer
		<-errc
		return fmt.Errorf("reader: %v after %d of %d bytes", err, len(got), len(data))
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("writer: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		return fmt.Errorf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
	return nil
}

func TestResumeRandomResets(t *testing.T) {
	size := 32 << 20 // 4 windows
	if testing.Short() {
		size = 16 << 20
	}
	for _, dir := range []string{"dialer writes", "listener writes"} {
		t.Run(dir, func(t *testing.T) {
			d, a, p := faultPipe(t)
			from, to := d, a
			if dir == "listener writes" {
				from, to = a, d
			}
			ctx, cancel := context.WithCancel(context.Background())
			resets := p.ResetEvery(ctx, t, 200*time.Millisecond, 2*time.Second)
			start := time.Now()
			// The reader is paced so the transfer outlasts several resets
			// (about 5 s).
			transfer(t, from, to, random(size, 1), 6<<20, nil)
			elapsed := time.Since(start)
			cancel()
			n := <-resets
			st := from.Stats()
			t.Logf("%d MiB in %.1f s (%.0f MB/s) through %d resets: %d reconnects, %d bytes resent",
				size>>20, elapsed.Seconds(), float64(size)/elapsed.Seconds()/1e6, n, st.Reconnects, st.Resent)
			if n > 0 && st.Reconnects == 0 {
				t.Errorf("%d resets but no reconnect", n)
			}
		})
	}
}

// TestResumeBlackHole: the path drops everything, without closing
// anything, until the dialer has noticed (after the keepalive timeout); the
// session resumes once the path is back.
func TestResumeBlackHole(t *testing.T) {
	noticed := make(chan struct{}, 1)
	d, a, p := faultPipe(t, farpipe.WithEvents(func(e farpipe.Event) {
		if e.Kind == farpipe.EventDisconnected {
			select {
			case noticed <- struct{}{}:
			default:
			}
		}
	}))
	data := random(8<<20, 2)
	errc := make(chan error, 1)
	go func() { errc <- sendAll(d, data) }()
	got, err := readAllHurt(a, 8<<20, 1, func() {
		restore := p.BlackHole(t)
		<-noticed // the silence was taken for a failed connection
		restore()
	})
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("data differs")
	}
	if d.Stats().Reconnects == 0 {
		t.Error("the black hole was not detected: no reconnect")
	}
}

func TestResumeLatencyAndBandwidth(t *testing.T) {
	d, a, p := faultPipe(t)
	p.Add(t, "latency", "downstream", `{"latency": 30, "jitter": 10}`)
	p.Add(t, "latency", "upstream", `{"latency": 30, "jitter": 10}`)
	p.Add(t, "bandwidth", "upstream", `{"rate": 8192}`) // KB/s
	transfer(t, d, a, random(8<<20, 3), 0, func() { p.Reset(t) })
}

func TestResumeTinySegments(t *testing.T) {
	d, a, p := faultPipe(t)
	p.Add(t, "slicer", "upstream", `{"average_size": 16, "size_variation": 12, "delay": 0}`)
	p.Add(t, "slicer", "downstream", `{"average_size": 7, "size_variation": 6, "delay": 0}`)
	transfer(t, d, a, random(2<<20, 4), 0, func() { p.Reset(t) })
}

// TestResumeDuplex: both directions carry data and resume at once.
func TestResumeDuplex(t *testing.T) {
	d, a, p := faultPipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resets := p.ResetEvery(ctx, t, 100*time.Millisecond, 500*time.Millisecond)
	errs := make(chan error, 2)
	// 16 MiB (2 windows) each way, paced to last about 2 s: a dozen resets.
	go func() { errs <- transferErr(d, a, random(16<<20, 5), 8<<20, nil) }()
	go func() { errs <- transferErr(a, d, random(16<<20, 6), 8<<20, nil) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	cancel()
	t.Logf("%d resets, %d reconnects", <-resets, d.Stats().Reconnects)
}

// TestResumeGivesUp: a peer that never comes back ends the Conn with
// ErrConnLost after the resume timeout, on both sides.
func TestResumeGivesUp(t *testing.T) {
	d, a, p := faultPipe(t, farpipe.WithResumeTimeout(time.Second))
	d.Write([]byte("partial"))
	p.BlackHole(t)
	for _, c := range []*farpipe.Conn{d, a} {
		select {
		case <-c.Done():
		case <-time.After(15 * time.Second):
			t.Fatal("the Conn did not give up")
		}
		if !errors.Is(c.Err(), farpipe.ErrConnLost) {
			t.Errorf("Err() = %v, want ErrConnLost", c.Err())
		}
	}
	if _, err := a.Read(make([]byte, 100)); err == nil || err == io.EOF {
		// The 7 bytes may be read first; then the error.
		if _, err = a.Read(make([]byte, 100)); !errors.Is(err, farpipe.ErrConnLost) {
			t.Errorf("Read after giving up: %v", err)
		}
	}
}

// TestResumeMessages: small messages back and forth, each waiting for its
// echo, while the connection is reset again and again. Reads then read
// the connection themselves and small Writes write their own frames (the
// paths of a round trip), and every resumption must leave them intact.
func TestResumeMessages(t *testing.T) {
	for _, dir := range []string{"dialer asks", "listener asks"} {
		t.Run(dir, func(t *testing.T) {
			d, a, p := faultPipe(t)
			asker, echoer := d, a
			if dir == "listener asks" {
				asker, echoer = a, d
			}
			go func() { // echo every message: a 2-byte length, then the bytes
				for {
					var hdr [2]byte
					if _, err := io.ReadFull(echoer, hdr[:]); err != nil {
						return
					}
					msg := make([]byte, int(hdr[0])<<8|int(hdr[1]))
					if _, err := io.ReadFull(echoer, msg); err != nil {
						return
					}
					if _, err := echoer.Write(append(hdr[:], msg...)); err != nil {
						return
					}
				}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			resets := p.ResetEvery(ctx, t, 50*time.Millisecond, 300*time.Millisecond)
			rng := rand.New(rand.NewPCG(3, 4))
			deadline := time.Now().Add(3 * time.Second)
			n := 0
			for ; time.Now().Before(deadline); n++ {
				msg := random(1+rng.IntN(4096), uint64(n))
				out := append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
				if _, err := asker.Write(out); err != nil {
					t.Fatalf("message %d: write: %v", n, err)
				}
				back := make([]byte, len(out))
				if _, err := io.ReadFull(asker, back); err != nil {
					t.Fatalf("message %d: read: %v", n, err)
				}
				if string(back) != string(out) {
					t.Fatalf("message %d came back different", n)
				}
			}
			cancel()
			r := <-resets
			st := asker.Stats()
			t.Logf("%d messages through %d resets: %d reconnects", n, r, st.Reconnects)
			if r > 0 && st.Reconnects == 0 {
				t.Errorf("%d resets but no reconnect", r)
			}
		})
	}
}

// withholdPipe returns a dialed and an accepted Conn, unencrypted (so that
// frames can be recognised), whose first connection runs through a proxy
// that withholds from the dialer what the listener sends from pattern on.
func withholdPipe(t *testing.T, pattern wire.Header) (d, a *farpipe.Conn, p *faults.Withhold) {
	t.Helper()
	opts := []farpipe.Option{
		farpipe.WithNoEncrypt(),
		farpipe.WithKeepalive(time.Second, 10*time.Second), // no keepalive failure while held
		farpipe.WithResumeTimeout(20 * time.Second),
		farpipe.WithBackoffMax(100 * time.Millisecond),
	}
	ctx := context.Background()
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var b [wire.HeaderLen]byte
	pattern.Put(b[:])
	p = faults.NewWithhold(t, ln.Addr().String(), b[:])
	p.Admit() // resumptions pass at once
	accepted := make(chan *farpipe.Conn, 1)
	go func() {
		c, _ := ln.Accept(ctx)
		accepted <- c
	}()
	d, err = farpipe.Dial(ctx, p.Addr(), append(opts, farpipe.WithToken(ln.Token()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Abort("test over") })
	if a = <-accepted; a == nil {
		t.Fatal("Accept failed")
	}
	t.Cleanup(func() { a.Abort("test over") })
	return d, a, p
}

// seen waits until p has withheld what it waits for.
func seen(t *testing.T, p *faults.Withhold) {
	t.Helper()
	select {
	case <-p.Seen():
	case <-time.After(30 * time.Second):
		t.Fatal("the message to withhold was not seen within 30 s")
	}
}

// bothFinish checks that both Conns end, cleanly.
func bothFinish(t *testing.T, d, a *farpipe.Conn) {
	t.Helper()
	for _, c := range []*farpipe.Conn{d, a} {
		name := map[bool]string{true: "dialer", false: "listener"}[c == d]
		select {
		case <-c.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("the %s's Conn did not end", name)
		}
		if err := c.Err(); err != nil {
			t.Errorf("%s: Err() = %v after a finished transfer", name, err)
		}
	}
}

// TestResumeLostFinAck: the connection fails just after the reader, which
// has read the whole stream and closed, sent its acknowledgement of the
// writer's FIN, which never arrives. The reader's session must wait for the
// writer to resume, which gets the acknowledgement again, and Drain
// succeeds on it.
func TestResumeLostFinAck(t *testing.T) {
	data := random(1<<20, 7)
	d, a, p := withholdPipe(t, wire.Header{Type: wire.TypeAck, Flags: wire.FlagFin, Arg: uint64(len(data))})
	drained := make(chan error, 1)
	go func() { drained <- sendAll(d, data) }()
	got, err := readAll(a, 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reader: %d of %d bytes, %v", len(got), len(data), err)
	}
	a.Close() // as recv does once it has the whole stream
	seen(t, p)
	p.Cut()
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("Drain after the acknowledgement was lost: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Drain did not return within 30 s of the acknowledgement being lost")
	}
	d.Close()
	bothFinish(t, d, a)
	if d.Stats().Reconnects == 0 {
		t.Error("the writer did not resume")
	}
}

// TestResumeLostLastWords: the side that closes last is complete at once
// and sends, with its BYE, the acknowledgements that complete its peer; the
// connection fails and they never arrive. That side must not take the end
// of the connection for the end of a finished session: it waits for the
// peer to resume and get them, and both sessions end cleanly.
func TestResumeLostLastWords(t *testing.T) {
	data := random(1<<20, 8)
	// The first frame of those last words: the acknowledgement of the FIN
	// that the dialer's Close sent on channel 1, unused.
	d, a, p := withholdPipe(t, wire.Header{Type: wire.TypeAck, Channel: 1, Flags: wire.FlagFin})
	drained := make(chan error, 1)
	go func() { drained <- sendAll(a, data) }() // the listener writes
	got, err := readAll(d, 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reader: %d of %d bytes, %v", len(got), len(data), err)
	}
	d.Close() // the dialer closes first
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	// The dialer's FIN, sent by its Close, is here: so are the STOPs that
	// went with it, and the listener's Close completes its session.
	if n, err := a.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("listener's Read after the dialer closed: %d, %v; want 0, EOF", n, err)
	}
	a.Close()
	seen(t, p)
	p.Cut()
	bothFinish(t, d, a)
	if d.Stats().Reconnects == 0 {
		t.Error("the dialer did not resume")
	}
}
