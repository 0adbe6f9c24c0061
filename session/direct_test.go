package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// grant makes c's stream 0 read directly: a message from s wakes a
// waiting Read, after which the readLoop lends reading to Reads. It fails
// the test if reading was not lent, so that the cases below do test it.
func grant(t *testing.T, c, s *Session) {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(c.Stream(0), make([]byte, 5))
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Read wait
	if _, err := s.Stream(0).Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	l := c.ln
	c.mu.Unlock()
	if l == nil || !l.granted.Load() {
		t.Fatal("reading was not lent to the Read that waited")
	}
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// TestReadDirect covers what must keep working while reading is lent to
// Reads: every case checks a checksum of everything sent against
// everything received.
func TestReadDirect(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c, s *Session)
	}{
		{"the reader leaves and the writer needs acknowledgements", func(t *testing.T, c, s *Session) {
			// c stops reading and writes several windows to s: the
			// acknowledgements that open the window must still be read.
			data := randomBytes(3*c.window+12345, 1)
			echoed := make(chan [32]byte, 1)
			go func() {
				got, _ := io.ReadAll(s.Stream(0))
				echoed <- sha256.Sum256(got)
			}()
			if _, err := c.Stream(0).Write(data); err != nil {
				t.Fatal(err)
			}
			c.Stream(0).CloseWrite()
			if sum := <-echoed; sum != sha256.Sum256(data) {
				t.Fatal("data differs")
			}
		}},
		{"a reader waits while another goroutine writes", func(t *testing.T, c, s *Session) {
			// The waiting Read reads the connection itself, acknowledgements
			// for the concurrent Write included.
			reply := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(c.Stream(0))
				reply <- b
			}()
			data := randomBytes(3*c.window+777, 2)
			go func() {
				got, _ := io.ReadAll(s.Stream(1))
				sum := sha256.Sum256(got)
				s.Stream(0).Write(sum[:])
				s.Stream(0).CloseWrite()
			}()
			if _, err := c.Stream(1).Write(data); err != nil {
				t.Fatal(err)
			}
			c.Stream(1).CloseWrite()
			want := sha256.Sum256(data)
			if got := <-reply; !bytes.Equal(got, want[:]) {
				t.Fatalf("the peer received other bytes (%x)", got)
			}
		}},
		{"a deadline passes while reading is lent", func(t *testing.T, c, s *Session) {
			st := c.Stream(0)
			st.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := st.Read(make([]byte, 1)); !errors.Is(err, ErrTimeout) {
				t.Fatalf("got %v, want ErrTimeout", err)
			}
			st.SetReadDeadline(time.Time{})
			data := randomBytes(100<<10, 3)
			go s.Stream(0).Write(data)
			got := make([]byte, len(data))
			if _, err := io.ReadFull(st, got); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after the timeout: %v", err)
			}
		}},
		{"a stream ends the grant", func(t *testing.T, c, s *Session) {
			// Large frames go back to the readLoop, which reads ahead.
			data := randomBytes(2<<20, 5)
			go s.Stream(0).Write(data)
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c.Stream(0), got); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read: %v", err)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.ln.granted.Load() {
				t.Fatal("reading is still lent after a stream of large frames")
			}
		}},
		{"small messages both ways", func(t *testing.T, c, s *Session) {
			// A ping-pong: Reads read directly, Writes write directly.
			go func() {
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(s.Stream(0), buf); err != nil {
						return
					}
					if _, err := s.Stream(0).Write(buf); err != nil {
						return
					}
				}
			}()
			for i := range 2000 {
				msg := randomBytes(64, byte(i))
				if _, err := c.Stream(0).Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, 64)
				if _, err := io.ReadFull(c.Stream(0), got); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("message %d: %v", i, err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t, nil)
			grant(t, c, s)
			tc.run(t, c, s)
		})
	}
}

// TestReadDirectResumes: the connection fails while a Read reads it
// directly; the session resumes and the Read gets every byte.
func TestReadDirectResumes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Auth = keyAuth{key: []byte("the right key, 32 bytes long....")}
	cfg.BackoffMax = 50 * time.Millisecond
	c, s, _ := acceptorPair(t, cfg)
	grant(t, c, s)
	data := randomBytes(5<<20, 4)
	got := make(chan [32]byte, 1)
	go func() {
		b, _ := io.ReadAll(c.Stream(0))
		got <- sha256.Sum256(b)
	}()
	time.Sleep(20 * time.Millisecond) // the Read now waits on the connection
	c.mu.Lock()
	c.ln.conn.Close() // cut it under the Read
	c.mu.Unlock()
	if _, err := s.Stream(0).Write(data); err != nil {
		t.Fatal(err)
	}
	s.Stream(0).CloseWrite()
	if err := s.Stream(0).Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if <-got != sha256.Sum256(data) {
		t.Fatal("data differs after the resumption")
	}
	if c.Stats().Reconnects == 0 {
		t.Fatal("the session did not reconnect")
	}
}
