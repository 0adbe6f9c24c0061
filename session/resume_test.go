package session

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// keyAuth proves a key with an HMAC over both HELLOs and binds the
// resumption secret to it, like the token authentication of package secure.
type keyAuth struct{ key []byte }

func (a keyAuth) Method() wire.AuthMethod { return wire.AuthToken }

func (a keyAuth) mac(t *Transcript, role wire.Role) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(role.String()))
	m.Write(t.Dialer)
	m.Write(t.Listener)
	return m.Sum(nil)
}

func (a keyAuth) Prove(t *Transcript, role wire.Role) ([]byte, error) { return a.mac(t, role), nil }

func (a keyAuth) Verify(t *Transcript, role wire.Role, proof []byte) error {
	if !hmac.Equal(proof, a.mac(t, role)) {
		return errors.New("wrong key")
	}
	return nil
}

func (a keyAuth) BindSecret(t *Transcript) []byte { return a.mac(t, 0) }

// acceptorPair runs an Acceptor on loopback and returns a resumable dialed
// session, the accepted one, and the listener's address.
func acceptorPair(t *testing.T, cfg *Config) (client, server *Session, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acc := NewAcceptor(cfg)
	accepted := make(chan *Session, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s, err := acc.Accept(context.Background(), c); err == nil {
					accepted <- s
				}
			}()
		}
	}()
	addr = ln.Addr().String()
	ccfg := *cfg
	ccfg.Redial = func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	c, err := ccfg.Redial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	client, err = Client(context.Background(), c, &ccfg)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() {
		client.fail(errFinished)
		server.fail(errFinished)
		client.Wait()
		server.Wait()
		ln.Close()
		wg.Wait()
	})
	return client, server, addr
}

// TestResumeNeedsTheKey: a stranger that knows the session id, and even its
// resumption secret, but not the shared key, cannot resume the session;
// the real peer carries on.
func TestResumeNeedsTheKey(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Auth = keyAuth{key: []byte("the right key, 32 bytes long....")}
	cfg.BackoffMax = 50 * time.Millisecond
	c, s, addr := acceptorPair(t, cfg)
	if !c.resumable || !s.resumable {
		t.Fatal("sessions are not resumable")
	}

	for _, tt := range []struct {
		name   string
		key    string
		secret bool // the stranger knows the resumption secret
	}{
		{"guessed id", "the right key, 32 bytes long....", false},
		{"stolen secret, wrong key", "a wrong key, also 32 bytes......", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			scfg := *cfg
			scfg.Auth = keyAuth{key: []byte(tt.key)}
			stranger := newSession(&scfg, wire.RoleDialer)
			stranger.id = c.id
			if tt.secret {
				stranger.secret = c.secret
			}
			stranger.resumable = true
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			scfg.Redial = func(context.Context) (net.Conn, error) { return conn, nil }
			err = stranger.redialOnce(time.Now().Add(5 * time.Second))
			if err == nil {
				t.Fatal("the stranger resumed the session")
			}
			stranger.fail(errFinished)
			stranger.Wait()
			t.Logf("stranger refused: %v", err)
		})
	}

	// The real peer still has its session: a transfer goes through.
	data := []byte("still here")
	go func() {
		c.Stream(0).Write(data)
		c.Stream(0).CloseWrite()
	}()
	got, err := io.ReadAll(s.Stream(0))
	if err != nil || string(got) != string(data) {
		t.Fatalf("after the attempts: %q, %v", got, err)
	}
}
