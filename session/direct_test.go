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
// the test if reading was never seen lent, so that the cases below do test
// it. (The check is made right after the Read returns, a few times over:
// a keepalive tick may take reading back meanwhile.)
func grant(t *testing.T, c, s *Session) {
	t.Helper()
	for range 20 {
		lent := make(chan bool, 1)
		go func() {
			_, err := io.ReadFull(c.Stream(0), make([]byte, 5))
			c.mu.Lock()
			l := c.ln
			c.mu.Unlock()
			lent <- err == nil && l != nil && l.own.state().lent
		}()
		time.Sleep(20 * time.Millisecond) // let the Read wait
		if _, err := s.Stream(0).Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if <-lent {
			return
		}
	}
	t.Fatal("reading was never lent to a Read that waited")
}

// readingDirect waits until a Read of c waits on the connection itself,
// and fails the test if none does.
func readingDirect(t *testing.T, c *Session) {
	t.Helper()
	c.mu.Lock()
	l := c.ln
	c.mu.Unlock()
	for range 500 {
		if l.own.state().peeking {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("no Read waits on the connection")
}

// sleeping waits until the Read of c's stream id sleeps waiting for data,
// and fails the test if that does not happen.
func sleeping(t *testing.T, c *Session, id int) {
	t.Helper()
	for range 500 {
		c.mu.Lock()
		waiting := c.streams[id].rcv.waiting
		c.mu.Unlock()
		if waiting {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("the Read of stream %d does not sleep", id)
}

// waitErr returns what errc delivers, failing the test if nothing comes.
func waitErr(t *testing.T, errc chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the Read did not return")
		return nil
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
			if c.ln.own.state().lent {
				t.Fatal("reading is still lent after a stream of large frames")
			}
		}},
		{"a deadline set while a Read waits on the connection", func(t *testing.T, c, s *Session) {
			st := c.Stream(0)
			errc := make(chan error, 1)
			go func() {
				_, err := st.Read(make([]byte, 1))
				errc <- err
			}()
			readingDirect(t, c)
			st.SetReadDeadline(time.Now())
			if err := waitErr(t, errc); !errors.Is(err, ErrTimeout) {
				t.Fatalf("got %v, want ErrTimeout", err)
			}
			st.SetReadDeadline(time.Time{})
			data := randomBytes(300<<10, 6)
			go s.Stream(0).Write(data)
			got := make([]byte, len(data))
			if _, err := io.ReadFull(st, got); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after the timeout: %v", err)
			}
		}},
		{"CloseRead while a Read waits on the connection", func(t *testing.T, c, s *Session) {
			errc := make(chan error, 1)
			go func() {
				_, err := c.Stream(0).Read(make([]byte, 1))
				errc <- err
			}()
			readingDirect(t, c)
			c.Stream(0).CloseRead()
			if err := waitErr(t, errc); !errors.Is(err, ErrClosed) {
				t.Fatalf("got %v, want ErrClosed", err)
			}
		}},
		{"Abort while a Read waits on the connection", func(t *testing.T, c, s *Session) {
			errc := make(chan error, 1)
			go func() {
				_, err := c.Stream(0).Read(make([]byte, 1))
				errc <- err
			}()
			readingDirect(t, c)
			c.Abort("enough")
			var ae *AbortError
			if err := waitErr(t, errc); !errors.As(err, &ae) {
				t.Fatalf("got %v, want an AbortError", err)
			}
		}},
		{"a Read sleeps while another reads the connection, which then leaves", func(t *testing.T, c, s *Session) {
			// Stream 1's Read holds the connection; stream 0's sleeps. When
			// the first has its message and goes, someone must still read
			// for the second (issue 11: nobody did).
			errc := [2]chan error{make(chan error, 1), make(chan error, 1)}
			read := func(id int) {
				_, err := io.ReadFull(c.Stream(id), make([]byte, 3))
				errc[id] <- err
			}
			go read(1)
			readingDirect(t, c)
			go read(0)
			sleeping(t, c, 0)
			if _, err := s.Stream(1).Write([]byte("one")); err != nil {
				t.Fatal(err)
			}
			if err := waitErr(t, errc[1]); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Stream(0).Write([]byte("two")); err != nil {
				t.Fatal(err)
			}
			if err := waitErr(t, errc[0]); err != nil {
				t.Fatal(err)
			}
		}},
		{"kicks at any moment lose nothing", func(t *testing.T, c, s *Session) {
			// Deadline changes kick the Read out of its wait for the next
			// frame, over and over, while messages stream in.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
						c.Stream(0).SetReadDeadline(time.Time{})
					}
				}
			}()
			var sent [][]byte
			for i := range 3000 {
				sent = append(sent, randomBytes(1+i%3000, byte(i)))
			}
			go func() {
				for _, m := range sent {
					if _, err := s.Stream(0).Write(m); err != nil {
						return
					}
				}
				s.Stream(0).CloseWrite()
			}()
			got, err := io.ReadAll(c.Stream(0))
			if err != nil || !bytes.Equal(got, bytes.Join(sent, nil)) {
				t.Fatalf("received %d bytes (%v), want %d", len(got), err, len(bytes.Join(sent, nil)))
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
			// No keepalives: nothing arrives to end a wait by chance, and
			// no tick takes reading back between the steps of a case.
			cfg := DefaultConfig()
			cfg.KeepaliveInterval, cfg.KeepaliveTimeout = time.Hour, 2*time.Hour
			c, s := pair(t, cfg)
			grant(t, c, s)
			tc.run(t, c, s)
		})
	}
}

// TestReadDirectResumes: the connection fails while a Read reads it
// directly; the session resumes and the Read gets every byte.
func TestReadDirectResumes(t *testing.T) {
	cfg := DefaultConfig()
	// No keepalive ticks, which would take reading back between the steps.
	cfg.KeepaliveInterval, cfg.KeepaliveTimeout = time.Hour, 2*time.Hour
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
	readingDirect(t, c)
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
