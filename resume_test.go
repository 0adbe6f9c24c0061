package farpipe_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/faults"
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

// slowReader reads everything from c at most rate bytes per second.
func readAll(c *farpipe.Conn, rate int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 256<<10)
	start := time.Now()
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if rate > 0 {
			if ahead := time.Duration(float64(len(out))/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
}

func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// transfer sends data one way through the pipe while hurt runs, and checks
// that exactly the same bytes arrive.
func transfer(t *testing.T, from, to *farpipe.Conn, data []byte, rate int) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- sendAll(from, data) }()
	got, err := readAll(to, rate)
	if err != nil {
		t.Fatalf("reader: %v after %d of %d bytes", err, len(got), len(data))
	}
	if err := <-errc; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
}

func TestResumeRandomResets(t *testing.T) {
	size := 256 << 20
	if testing.Short() {
		size = 32 << 20
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
			// The reader is paced so the transfer outlasts several resets.
			transfer(t, from, to, random(size, 1), 48<<20)
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

func TestResumeBlackHole(t *testing.T) {
	d, a, p := faultPipe(t)
	data := random(16<<20, 2)
	errc := make(chan error, 1)
	go func() { errc <- sendAll(d, data) }()
	go func() {
		time.Sleep(100 * time.Millisecond)
		restore := p.BlackHole(t)
		time.Sleep(2500 * time.Millisecond) // longer than the keepalive timeout
		restore()
	}()
	got, err := readAll(a, 8<<20)
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
	go func() {
		time.Sleep(400 * time.Millisecond)
		p.Reset(t)
	}()
	transfer(t, d, a, random(8<<20, 3), 0)
}

func TestResumeTinySegments(t *testing.T) {
	d, a, p := faultPipe(t)
	p.Add(t, "slicer", "upstream", `{"average_size": 16, "size_variation": 12, "delay": 0}`)
	p.Add(t, "slicer", "downstream", `{"average_size": 7, "size_variation": 6, "delay": 0}`)
	go func() {
		time.Sleep(200 * time.Millisecond)
		p.Reset(t)
	}()
	transfer(t, d, a, random(2<<20, 4), 0)
}

// TestResumeDuplex: both directions carry data and resume at once.
func TestResumeDuplex(t *testing.T) {
	d, a, p := faultPipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resets := p.ResetEvery(ctx, t, 100*time.Millisecond, 500*time.Millisecond)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); transfer(t, d, a, random(48<<20, 5), 24<<20) }()
	go func() { defer wg.Done(); transfer(t, a, d, random(48<<20, 6), 24<<20) }()
	wg.Wait()
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
