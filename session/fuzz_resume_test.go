package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// FuzzResumeLive plays a stranger that connects to an Acceptor holding a
// live session whose connection failed, and sends the fuzzer's bytes as a
// resuming dialer. In the input, fuzzSessionID stands for the live
// session's id and fuzzResumeKey, in the first HELLO, for a valid proof of
// its secret over that HELLO's nonce, so that the fuzzer can also play the
// real peer. Whatever the bytes: nothing panics or hangs; unless they
// prove the secret, the session is untouched (the real dialer then resumes
// it and bytes flow both ways, exactly); if they do, it may end, but its
// state stays consistent.
func FuzzResumeLive(f *testing.F) {
	for _, seed := range resumeSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lr := newLiveResume(t)
		defer lr.close(t)
		in, proved := lr.rewrite(in)
		p := newHostilePeer(in, nil)
		p.eofOnly = true // the handshake's answers must not fail before it ends
		var (
			ns  *Session
			err error
		)
		within(t, "Accept", func() { ns, err = lr.acc.Accept(context.Background(), p.near) })
		switch {
		case err == nil: // a new session: end it
			exercise(t, ns, p)
		case errors.Is(err, ErrResumed): // the session reads the rest
			within(t, "the peer's bytes", func() {
				select {
				case <-p.gone:
				case <-lr.s.Done():
				}
			})
		}
		within(t, "closing the stranger", p.close)
		lr.check(t, proved)
	})
}

// fuzzResumeKey stands for a valid resumption proof in FuzzResumeLive.
var fuzzResumeKey = bytes.Repeat([]byte{0x5A}, wire.ResumeKeyLen)

// liveResume is a resumable session pair over net.Pipe whose connection
// has failed; the dialer's reconnection waits for gate.
type liveResume struct {
	acc     *Acceptor
	c, s    *Session
	gate    chan struct{}
	opened  sync.Once
	serving sync.WaitGroup
}

func newLiveResume(t *testing.T) *liveResume {
	cfg := fuzzConfig(false)
	cfg.HandshakeTimeout = time.Second
	cfg.KeepaliveInterval, cfg.KeepaliveTimeout = 40*time.Millisecond, 10*time.Second
	cfg.ResumeTimeout = 30 * time.Second
	cfg.BackoffMax = 10 * time.Millisecond
	lr := &liveResume{acc: NewAcceptor(cfg), gate: make(chan struct{})}
	accepted := make(chan *Session, 1)
	serve := func(conn net.Conn) {
		lr.serving.Add(1)
		go func() {
			defer lr.serving.Done()
			if s, err := lr.acc.Accept(context.Background(), conn); err == nil {
				accepted <- s
			}
		}()
	}
	ccfg := *cfg
	ccfg.Redial = func(ctx context.Context) (net.Conn, error) {
		select {
		case <-lr.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		a, b := net.Pipe()
		serve(b)
		return a, nil
	}
	a, b := net.Pipe()
	serve(b)
	var err error
	within(t, "the first handshake", func() {
		if lr.c, err = Client(context.Background(), a, &ccfg); err == nil {
			lr.s = <-accepted
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	lr.exchange(t, "hello", "world")
	lr.c.mu.Lock()
	lr.c.ln.conn.Close() // the connection fails
	lr.c.mu.Unlock()
	within(t, "the disconnection", func() {
		for {
			lr.s.mu.Lock()
			down := lr.s.ln == nil
			lr.s.mu.Unlock()
			if down {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	return lr
}

// exchange sends a from the dialer to the listener and b back, and checks
// that each arrives exactly.
func (lr *liveResume) exchange(t *testing.T, a, b string) {
	t.Helper()
	within(t, "an exchange", func() {
		for _, x := range []struct {
			from, to *Session
			msg      string
		}{{lr.c, lr.s, a}, {lr.s, lr.c, b}} {
			if _, err := x.from.Stream(0).Write([]byte(x.msg)); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			got := make([]byte, len(x.msg))
			if _, err := io.ReadFull(x.to.Stream(0), got); err != nil || string(got) != x.msg {
				t.Errorf("read %q (%v), want %q", got, err, x.msg)
				return
			}
		}
	})
}

// rewrite puts the live session's id and a valid proof into in, and
// reports whether the first HELLO then proves the session's secret.
func (lr *liveResume) rewrite(in []byte) ([]byte, bool) {
	in = bytes.ReplaceAll(in, fuzzSessionID, lr.s.id[:])
	if len(in) < wire.HeaderLen {
		return in, false
	}
	h, err := wire.ParseHeader(in[:wire.HeaderLen])
	if err != nil || h.Type != wire.TypeHello || len(in) < wire.HeaderLen+int(h.Length) {
		return in, false
	}
	end := wire.HeaderLen + int(h.Length)
	var hello wire.Hello
	if hello.UnmarshalBinary(in[wire.HeaderLen:end]) != nil {
		return in, false
	}
	proof := lr.s.resumeProof(wire.RoleDialer, hello.Nonce[:], nil)
	first := bytes.ReplaceAll(in[:end], fuzzResumeKey, proof[:])
	hello.UnmarshalBinary(first[wire.HeaderLen:])
	return append(first, in[end:]...), validProof(hello.ResumeKey, proof)
}

// check lets the real dialer resume and checks the live session: after a
// stranger that could not prove its secret, bytes flow as before; after
// one that could (the fuzzer playing the real peer), it may have ended,
// but its state is consistent.
func (lr *liveResume) check(t *testing.T, proved bool) {
	t.Helper()
	lr.opened.Do(func() { close(lr.gate) })
	if !proved {
		if lr.s.ended() {
			t.Fatalf("a stranger's bytes ended the live session: %v", lr.s.Err())
		}
		lr.exchange(t, "after", "resuming")
		if n := lr.s.Stats().Reconnects; n != 1 {
			t.Fatalf("the live session reconnected %d times, want 1", n)
		}
		return
	}
	lr.s.mu.Lock()
	defer lr.s.mu.Unlock()
	for _, st := range lr.s.streams {
		w, r := &st.snd, &st.rcv
		if w.acked > w.sent || w.sent > w.written || r.delivered > r.consumed || r.consumed > r.received {
			t.Fatalf("channel %d inconsistent: %+v %+v", st.id, *w, *r)
		}
	}
}

// close ends both sessions and waits for every goroutine.
func (lr *liveResume) close(t *testing.T) {
	lr.opened.Do(func() { close(lr.gate) })
	within(t, "the end", func() {
		lr.c.Abort("fuzz run over")
		lr.s.Abort("fuzz run over")
		lr.c.Wait()
		lr.s.Wait()
		lr.serving.Wait()
	})
}

// resumeSeeds returns stranger byte streams for FuzzResumeLive.
func resumeSeeds() [][]byte {
	none := []wire.AuthMethod{wire.AuthNone}
	var id [wire.SessionIDLen]byte
	copy(id[:], fuzzSessionID)
	var key [wire.ResumeKeyLen]byte
	copy(key[:], fuzzResumeKey)
	resume := func(recv [wire.MaxChannels]uint64, key [wire.ResumeKeyLen]byte) []byte {
		return helloFrame(wire.Hello{Role: wire.RoleDialer, SessionID: id, Auth: none, Resume: true,
			Nonce: [wire.NonceLen]byte{1, 2, 3}, Received: recv, ResumeKey: key})
	}
	auth := authFrame(wire.AuthNone, nil)
	valid := resume([wire.MaxChannels]uint64{5}, key)
	return [][]byte{
		cat(valid, auth),
		cat(valid, auth, frame(wire.Header{Type: wire.TypeData, Arg: 5}, []byte("more")), frame(wire.Header{Type: wire.TypeAck, Arg: 5}, nil)),
		cat(valid, auth, frame(wire.Header{Type: wire.TypeData, Arg: 0}, []byte("hellX"))), // resent, and different
		cat(valid, auth, frame(wire.Header{Type: wire.TypeAck, Arg: 99}, nil)),
		cat(valid, auth, frame(wire.Header{Type: wire.TypeBye}, nil)),
		cat(valid, auth, frame(wire.Header{Type: wire.TypeAbort, Arg: 1}, []byte("stranger"))),
		cat(resume([wire.MaxChannels]uint64{99}, key), auth),                       // offsets beyond what was sent
		cat(resume([wire.MaxChannels]uint64{5}, [wire.ResumeKeyLen]byte{7}), auth), // wrong proof
		cat(valid, authFrame(wire.AuthToken, []byte{1})),
		valid,
		valid[:len(valid)-3],
		helloFrame(wire.Hello{Role: wire.RoleDialer, SessionID: id, Auth: none}),                             // a new session with the same id
		cat(helloFrame(wire.Hello{Role: wire.RoleDialer, SessionID: id, Auth: none, ResumeGrace: 60}), auth), // and its AUTH
		{},
	}
}

// TestResumeSeeds checks the harness of FuzzResumeLive: the first seed
// resumes the live session, a wrong proof is refused and leaves it to the
// real dialer.
func TestResumeSeeds(t *testing.T) {
	seeds := resumeSeeds()
	for _, tc := range []struct {
		name   string
		in     []byte
		proved bool
		resume bool
	}{
		{"a valid resumption", seeds[0], true, true},
		{"a wrong proof", seeds[7], false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lr := newLiveResume(t)
			defer lr.close(t)
			in, proved := lr.rewrite(tc.in)
			if proved != tc.proved {
				t.Fatalf("proved %v, want %v", proved, tc.proved)
			}
			p := newHostilePeer(in, nil)
			p.eofOnly = true
			_, err := lr.acc.Accept(context.Background(), p.near)
			p.close()
			if errors.Is(err, ErrResumed) != tc.resume || err == nil {
				t.Fatalf("Accept: %v; want a resumption: %v", err, tc.resume)
			}
			lr.check(t, proved)
		})
	}
}
