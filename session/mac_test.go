package session

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/farpipe/farpipe/wire"
)

// keyedAuth is NoAuth plus fixed frame keys: an unencrypted, integrity
// protected connection for tests.
type keyedAuth struct{ NoAuth }

func (keyedAuth) FrameKeys(_ *Transcript, role wire.Role) (send, recv []byte, err error) {
	d, l := make([]byte, 16), make([]byte, 16)
	d[0], l[0] = 1, 2
	if role == wire.RoleDialer {
		return d, l, nil
	}
	return l, d, nil
}

// flipper forwards a TCP connection and, if armed, flips one bit of the
// byte at offset flipAt of the dialer-to-listener direction.
func flipper(t *testing.T, upstream string, flipAt int64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			c.Close()
			return
		}
		mu.Lock()
		conns = append(conns, c, u)
		mu.Unlock()
		wg.Add(1)
		go func() { defer wg.Done(); io.Copy(c, u); c.Close() }()
		var off int64
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if flipAt >= off && flipAt < off+int64(n) {
					buf[flipAt-off] ^= 0x10
				}
				off += int64(n)
				if _, werr := u.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		u.Close()
	}()
	return ln.Addr().String()
}

func macPair(t *testing.T, flipAt int64) (client, server *Session, serverErr chan error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Auth = keyedAuth{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	serverc := make(chan *Session, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverc <- nil
			return
		}
		s, _ := Server(context.Background(), c, cfg)
		serverc <- s
	}()
	c, err := net.Dial("tcp", flipper(t, ln.Addr().String(), flipAt))
	if err != nil {
		t.Fatal(err)
	}
	client, err = Client(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	server = <-serverc
	if server == nil {
		t.Fatal("server handshake failed")
	}
	t.Cleanup(func() {
		client.fail(errFinished)
		server.fail(errFinished)
		client.Wait()
		server.Wait()
	})
	return client, server, nil
}

func TestFrameMAC(t *testing.T) {
	data := make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{7}).Read(data)
	for _, tt := range []struct {
		name   string
		flipAt int64 // -1: no tampering
	}{
		{"clean", -1},
		{"tampered payload", 3 << 20},
		{"tampered early", 2000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, s, _ := macPair(t, tt.flipAt)
			if c.ln.mac == nil {
				t.Fatal("no frame MAC on an unencrypted link with frame keys")
			}
			errc := writeAll(c.Stream(0), data)
			got, rerr := io.ReadAll(s.Stream(0))
			werr := <-errc
			if tt.flipAt < 0 {
				if rerr != nil || werr != nil || sha256.Sum256(got) != sha256.Sum256(data) {
					t.Fatalf("clean transfer: read %v, write %v, %d bytes", rerr, werr, len(got))
				}
				return
			}
			if rerr == nil || werr == nil {
				t.Fatalf("tampering went unnoticed: read %v, write %v", rerr, werr)
			}
			if !errors.Is(rerr, wire.ErrProtocol) {
				t.Errorf("reader error %v, want a protocol error", rerr)
			}
			// No tampered byte was delivered: what was read is a prefix of
			// what was written.
			if !bytesPrefix(data, got) {
				t.Errorf("the reader got %d bytes that are not what was sent", len(got))
			}
		})
	}
}

func bytesPrefix(all, p []byte) bool {
	return len(p) <= len(all) && sha256.Sum256(all[:len(p)]) == sha256.Sum256(p)
}
