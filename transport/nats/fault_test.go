package nats

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testrelay"
)

// pair connects a dialer and a listener at a fresh name on r.
func pair(t *testing.T, r *testrelay.Relay) (d, a *conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := &natsTransport{scheme: "nats", pool: defaultPool}
	ln, err := tr.Listen(ctx, strings.TrimPrefix(r.URL(freshName()), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	dc, err := tr.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ac, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close(); ac.Close() })
	return dc.(*conn), ac.(*conn)
}

// TestBrokenByFaults checks that whatever the relay does wrong to the
// stream breaks the connection, so the session above resumes, instead of
// delivering something else than what was sent.
func TestBrokenByFaults(t *testing.T) {
	r := testrelay.Start(t)
	for _, tc := range []struct {
		name string
		hook func(held *[]byte) func(msg []byte, publish func([]byte) error) error
		want string
		good int // messages read before the error
	}{
		{"lost", func(*[]byte) func([]byte, func([]byte) error) error {
			n := 0
			return func(msg []byte, publish func([]byte) error) error {
				if msg[0] == kindData {
					if n++; n == 3 {
						return nil // the relay lost it
					}
				}
				return publish(msg)
			}
		}, "lost or reordered", 2},
		{"reordered", func(held *[]byte) func([]byte, func([]byte) error) error {
			n := 0
			return func(msg []byte, publish func([]byte) error) error {
				if msg[0] == kindData {
					switch n++; n {
					case 3:
						*held = bytes.Clone(msg)
						return nil
					case 4:
						if err := publish(msg); err != nil {
							return err
						}
						return publish(*held)
					}
				}
				return publish(msg)
			}
		}, "lost or reordered", 2},
		{"duplicated", func(*[]byte) func([]byte, func([]byte) error) error {
			n := 0
			return func(msg []byte, publish func([]byte) error) error {
				if msg[0] == kindData {
					if n++; n == 3 {
						publish(msg)
					}
				}
				return publish(msg)
			}
		}, "lost or reordered", 3},
		{"corrupted header", func(*[]byte) func([]byte, func([]byte) error) error {
			n := 0
			return func(msg []byte, publish func([]byte) error) error {
				if msg[0] == kindData {
					if n++; n == 3 {
						b := bytes.Clone(msg)
						b[0] = 'Z'
						return publish(b)
					}
				}
				return publish(msg)
			}
		}, "malformed", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, a := pair(t, r)
			var held []byte
			SetTestHook(tc.hook(&held))
			defer SetTestHook(nil)
			go func() {
				for i := 0; i < 10; i++ {
					if _, err := d.Write([]byte("0123456789")); err != nil {
						return
					}
				}
			}()
			var got []byte
			buf := make([]byte, 100)
			for {
				a.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := a.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "farpipe: ") {
						t.Fatalf("Read failed with %q, want an error about %q", err, tc.want)
					}
					break
				}
			}
			if want := strings.Repeat("0123456789", tc.good); string(got) != want {
				t.Fatalf("read %q before the error, want %q: what came before the fault, nothing after", got, want)
			}
		})
	}
}

// TestWindowEnforced checks that a peer that sends more than the window
// it was granted is cut off rather than buffered without bound.
func TestWindowEnforced(t *testing.T) {
	r := testrelay.Start(t)
	d, a := pair(t, r)
	d.mu.Lock()
	d.allowed = 1 << 40 // a peer that ignores the credit it was given
	d.mu.Unlock()
	go d.Write(make([]byte, defaultWindow+maxData))
	// The excess is refused when it arrives, whether or not anybody reads.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		err := a.err
		a.mu.Unlock()
		if err != nil {
			if !strings.Contains(err.Error(), "window") {
				t.Fatalf("the connection broke with %q, want the window error", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a peer sent more than the window and the connection still stands")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, a); err == nil || !strings.Contains(err.Error(), "window") {
		t.Fatalf("Read after the excess: %v, want the window error", err)
	}
}

// TestRelayOutage checks that losing the relay breaks connections at once
// (the session resumes without waiting for its keepalive), that dialing
// fails while it is away, and that a listener is reachable again once it is
// back.
func TestRelayOutage(t *testing.T) {
	r := testrelay.Start(t)
	tr := &natsTransport{scheme: "nats", pool: defaultPool}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln, err := tr.Listen(ctx, strings.TrimPrefix(r.URL(freshName()), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := tr.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	r.Stop()
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.Read(make([]byte, 1)); err == nil || errors.Is(err, io.EOF) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after the relay stopped: %v, want the loss of the relay", err)
	}
	if _, err := d.Write([]byte("x")); err == nil {
		t.Fatal("Write after the relay stopped succeeded")
	}
	if c, err := tr.Dial(ctx, ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("Dial while the relay is down succeeded")
	}

	r.Restart(0)
	var c net.Conn
	for c == nil {
		c, err = tr.Dial(ctx, ln.Addr().String())
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the listener never came back after the relay did: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	defer c.Close()
	a2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	go c.Write([]byte("back"))
	buf := make([]byte, 4)
	a2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(a2, buf); err != nil || string(buf) != "back" {
		t.Fatalf("after the relay came back: read %q, %v", buf, err)
	}
}

// TestDialNobody checks the error of a dial to a name nobody waits at: it
// says so and wraps ECONNREFUSED, which the CLI's --wait retries.
func TestDialNobody(t *testing.T) {
	r := testrelay.Start(t)
	tr := &natsTransport{scheme: "nats", pool: defaultPool}
	_, err := tr.Dial(context.Background(), strings.TrimPrefix(r.URL("nobody"), "nats://"))
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), `nobody waits at pipe "nobody"`) {
		t.Fatalf("Dial to a name nobody waits at: %v", err)
	}
}
