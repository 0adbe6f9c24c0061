package ws_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/testnginx"
	"github.com/farpipe/farpipe/internal/testpki"
)

// TestThroughNginx runs a pipe through a real nginx that proxies the
// WebSocket to a farpipe listener on loopback, and kills nginx and starts a
// new one on the same port mid-stream: the session resumes, every byte
// arrives once and in order, and both ends finish cleanly. Once with
// ws:// to nginx, once with wss:// to an nginx that terminates TLS.
func TestThroughNginx(t *testing.T) {
	const size = 16 << 20 // two windows: nginx dies with a window in flight and the writer waiting
	for _, tc := range []struct {
		name string
		tls  bool
	}{
		{"WS", false},
		{"WSSTerminatedByNginx", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			opts := []farpipe.Option{
				farpipe.WithKeepalive(250*time.Millisecond, 2*time.Second),
				farpipe.WithResumeTimeout(30 * time.Second),
				farpipe.WithBackoffMax(200 * time.Millisecond),
			}
			// Every connection the listener's side loses must be resumed:
			// one lost at the end would wait for the resume timeout.
			var lost, resumed atomic.Int64
			ln, err := farpipe.Listen(ctx, "ws://127.0.0.1:0/farpipe/pipe", append(opts, farpipe.WithEvents(func(e farpipe.Event) {
				switch e.Kind {
				case farpipe.EventDisconnected:
					lost.Add(1)
				case farpipe.EventResumed:
					resumed.Add(1)
				}
			}))...)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cfg := testnginx.Config{Upstream: strings.TrimSuffix(ln.Addr().String(), "/farpipe/pipe"), Location: "/farpipe/"}
			scheme, query := "ws", ""
			if tc.tls {
				pki := testpki.New(t)
				cfg.CertFile, cfg.KeyFile = pki.ServerCert, pki.ServerKey
				scheme, query = "wss", "?ca="+pki.CAFile
			}
			ng := testnginx.Start(t, cfg)

			accepted := make(chan *farpipe.Conn, 1)
			go func() {
				c, _ := ln.Accept(ctx) // nil if the test failed before
				accepted <- c
			}()
			addr := fmt.Sprintf("%s://%s/farpipe/pipe%s", scheme, ng.Addr, query)
			d, err := farpipe.Dial(ctx, addr, append(opts, farpipe.WithToken(ln.Token()))...)
			if err != nil {
				ln.Close()
				<-accepted
				t.Fatalf("Dial %s: %v\nnginx's error log:\n%s", addr, err, ng.ErrorLog())
			}
			a := <-accepted
			defer d.Abort("test over")
			defer a.Abort("test over")

			sent := make(chan []byte, 1)
			errc := make(chan error, 1)
			go func() {
				sum, err := sendRandom(d, size)
				sent <- sum
				errc <- err
			}()
			h := sha256.New()
			start := time.Now()
			n, err := readAllHurt(a, h, size/4, func() {
				ng.Restart()
				t.Logf("%v: nginx restarted", time.Since(start))
			})
			t.Logf("%v: all read", time.Since(start))
			if err != nil {
				d.Abort("test failed") // unblocks the writer
				<-errc
				t.Fatalf("reader: %v after %d of %d bytes\nnginx's error log:\n%s", err, n, size, ng.ErrorLog())
			}
			if err := <-errc; err != nil {
				t.Fatalf("writer: %v", err)
			}
			if want := <-sent; n != size || !bytesEqual(h.Sum(nil), want) {
				t.Fatalf("received %d bytes (SHA-256 %x); sent %d (SHA-256 %x)", n, h.Sum(nil), size, want)
			}
			t.Logf("%v: writer done", time.Since(start))
			if st := d.Stats(); st.Reconnects == 0 {
				t.Errorf("nginx was restarted mid-stream but the dialer never reconnected: %+v", st)
			}
			if err := a.Close(); err != nil {
				t.Errorf("listener side Close: %v", err)
			}
			if err := d.Close(); err != nil {
				t.Errorf("dialer side Close: %v", err)
			}
			t.Logf("%v: closed", time.Since(start))
			d.Wait()
			a.Wait()
			t.Logf("%v: both ended", time.Since(start))
			if lost.Load() != resumed.Load() {
				t.Errorf("the listener's side lost %d connections and resumed %d", lost.Load(), resumed.Load())
			}
			if err := d.Err(); err != nil {
				t.Errorf("dialer side ended with %v", err)
			}
			if err := a.Err(); err != nil {
				t.Errorf("listener side ended with %v", err)
			}
		})
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// sendRandom writes size pseudo-random bytes to c in random-sized chunks,
// half-closes it, waits until the peer has them all, and returns their
// SHA-256.
func sendRandom(c *farpipe.Conn, size int) ([]byte, error) {
	src := rand.NewChaCha8([32]byte{15})
	rng := rand.New(rand.NewPCG(1, 2))
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for size > 0 {
		p := buf[:min(size, 1+rng.IntN(len(buf)))]
		src.Read(p)
		h.Write(p)
		if _, err := c.Write(p); err != nil {
			return nil, err
		}
		size -= len(p)
	}
	if err := c.CloseWrite(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return h.Sum(nil), c.Drain(ctx)
}

// readAllHurt reads c to its end into h and returns the count; it calls
// hurt, on the caller's goroutine, once at least at bytes were read.
func readAllHurt(c *farpipe.Conn, h hash.Hash, at int, hurt func()) (int, error) {
	buf := make([]byte, 256<<10)
	total := 0
	for {
		n, err := c.Read(buf)
		h.Write(buf[:n])
		total += n
		if hurt != nil && total >= at {
			hurt()
			hurt = nil
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
