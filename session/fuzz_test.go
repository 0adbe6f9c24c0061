package session

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// The handshake fuzz targets play a hostile peer: the fuzzer's bytes are
// what the peer sends, after which it closes the connection. Whatever they
// are, the handshake must end with an error or a session (never a panic or
// a hang), and a session must end cleanly when aborted.

// fuzzHandshakeTimeout bounds each handshake; inputs never need to wait for
// it, since the peer closes as soon as its bytes are consumed.
const fuzzHandshakeTimeout = 200 * time.Millisecond

// fuzzWatchdog is how long any step of one fuzz run may take before it
// counts as a hang.
const fuzzWatchdog = 5 * time.Second

// fuzzSessionID stands for the dialer's session id in FuzzClientHandshake
// inputs: the peer replaces it with the id the dialer actually chose, so
// that the fuzzer can get past the HELLO check.
var fuzzSessionID = bytes.Repeat([]byte{0xA5}, wire.SessionIDLen)

// hmacAuth is a test Authenticator: HMAC-SHA-256 under a fixed key over the
// prover's role and both HELLOs (package secure, which has the real one,
// imports this package).
type hmacAuth struct{}

var fuzzKey = []byte("farpipe fuzz key, not a secret")

func (hmacAuth) Method() wire.AuthMethod { return wire.AuthToken }

func (hmacAuth) Prove(t *Transcript, role wire.Role) ([]byte, error) {
	m := hmac.New(sha256.New, fuzzKey)
	fmt.Fprintf(m, "fuzz %s ", role)
	for _, b := range [][]byte{t.Dialer, t.Listener} {
		binary.Write(m, binary.BigEndian, uint32(len(b)))
		m.Write(b)
	}
	return m.Sum(nil), nil
}

func (a hmacAuth) Verify(t *Transcript, role wire.Role, proof []byte) error {
	want, _ := a.Prove(t, role)
	if !hmac.Equal(want, proof) {
		return errors.New("wrong proof")
	}
	return nil
}

func fuzzConfig(useHMAC bool) *Config {
	cfg := DefaultConfig()
	cfg.HandshakeTimeout = fuzzHandshakeTimeout
	cfg.Window = 64 << 10 // the smallest: a DATA frame allocates a ring of this size
	cfg.FrameSize = 16 << 10
	if useHMAC {
		cfg.Auth = hmacAuth{}
	}
	return cfg
}

// frame encodes one frame.
func frame(h wire.Header, payload []byte) []byte {
	h.Length = uint32(len(payload))
	b := make([]byte, wire.HeaderLen, wire.HeaderLen+len(payload))
	h.Put(b)
	return append(b, payload...)
}

func helloFrame(h wire.Hello) []byte {
	p, err := h.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return frame(wire.Header{Type: wire.TypeHello}, p)
}

func authFrame(m wire.AuthMethod, proof []byte) []byte {
	p, _ := (&wire.Auth{Method: m, Proof: proof}).MarshalBinary()
	return frame(wire.Header{Type: wire.TypeAuth}, p)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// hostilePeer is the far end of a net.Pipe that sends in (after start is
// closed), reads and discards whatever the near end sends, and closes as
// soon as the near end tries to read past in: a peer that says its piece
// and hangs up.
type hostilePeer struct {
	near   *nearConn
	far    net.Conn
	start  chan struct{} // closed to let the peer send
	gone   chan struct{} // closed once the peer has hung up
	hangup sync.Once
	wg     sync.WaitGroup
	// eofOnly: hanging up ends only what the near end reads (io.EOF);
	// what it writes is still read and discarded, until close.
	eofOnly bool
}

// nearConn is the near end: it counts the bytes read and hangs the peer up
// when a read finds nothing more to come.
type nearConn struct {
	net.Conn
	p     *hostilePeer
	total int
	mu    sync.Mutex
	got   int
}

func (c *nearConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if c.got >= c.total {
		c.p.hangUp()
		if c.p.eofOnly {
			c.mu.Unlock()
			return 0, io.EOF
		}
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.got += n
	c.mu.Unlock()
	return n, err
}

func (p *hostilePeer) hangUp() {
	p.hangup.Do(func() {
		if !p.eofOnly {
			p.far.Close()
		}
		close(p.gone)
	})
}

// newHostilePeer starts a peer sending in. With rewrite, the peer first
// reads the near end's first frame and lets rewrite change in accordingly.
func newHostilePeer(in []byte, rewrite func(first []byte, in []byte) []byte) *hostilePeer {
	a, b := net.Pipe()
	p := &hostilePeer{far: b, start: make(chan struct{}), gone: make(chan struct{})}
	p.near = &nearConn{Conn: a, p: p, total: len(in)}
	firstRead := make(chan []byte, 1)
	p.wg.Add(2)
	go func() { // reader: the first frame, then discard
		defer p.wg.Done()
		first := readFrame(b)
		firstRead <- first
		io.Copy(io.Discard, b)
	}()
	go func() { // writer
		defer p.wg.Done()
		if rewrite != nil {
			select {
			case first := <-firstRead:
				in = rewrite(first, in)
			case <-p.gone:
				return
			}
		}
		if len(in) > 0 {
			b.Write(in) // fails once the near end closed: fine
		}
	}()
	return p
}

// readFrame reads one frame from r, or returns nil.
func readFrame(r io.Reader) []byte {
	var hdr [wire.HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil
	}
	h, err := wire.ParseHeader(hdr[:])
	if err != nil {
		return hdr[:]
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil
	}
	return append(hdr[:], p...)
}

// close hangs up and waits for the peer's goroutines.
func (p *hostilePeer) close() {
	p.hangUp()
	p.near.Close()
	p.wg.Wait()
}

// within runs f and fails the test with every goroutine's stack if it
// takes longer than fuzzWatchdog.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(fuzzWatchdog):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%s did not return within %s (hang):\n%s", what, fuzzWatchdog, buf)
	}
}

// exercise runs an established session against the rest of the peer's
// bytes: it reads every stream until the peer's bytes run out or the
// session ends, then aborts the session and waits for its goroutines.
func exercise(t *testing.T, s *Session, p *hostilePeer) {
	t.Helper()
	var readers sync.WaitGroup
	for i := range wire.MaxChannels {
		readers.Add(1)
		go func() {
			defer readers.Done()
			io.Copy(io.Discard, s.Stream(i))
		}()
	}
	select {
	case <-p.gone:
	case <-s.Done():
	case <-time.After(fuzzWatchdog):
		t.Errorf("the session neither ended nor consumed the peer's bytes within %s", fuzzWatchdog)
	}
	within(t, "Abort and Wait", func() {
		s.Abort("fuzz run over")
		s.Wait()
	})
	within(t, "stream readers", readers.Wait)
	if s.Err() == nil {
		t.Fatal("an aborted session reports no error")
	}
	t.Logf("session ended: %v", s.Err())
}

// checkHandshakeErr checks what a failed handshake returned.
func checkHandshakeErr(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrResumed) {
		t.Fatal("a fresh Acceptor resumed a session it never had")
	}
	if err.Error() == "" {
		t.Fatal("handshake error with empty text")
	}
}

// acceptSeeds returns dialer byte streams for FuzzAcceptHandshake.
func acceptSeeds() [][]byte {
	none := []wire.AuthMethod{wire.AuthNone}
	id := [wire.SessionIDLen]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	hello := helloFrame(wire.Hello{Role: wire.RoleDialer, SessionID: id, Window: 1 << 20, Auth: none, ResumeGrace: 60})
	helloTok := helloFrame(wire.Hello{Role: wire.RoleDialer, SessionID: id, Auth: []wire.AuthMethod{wire.AuthToken}})
	auth := authFrame(wire.AuthNone, nil)
	data := frame(wire.Header{Type: wire.TypeData}, []byte("hello, farpipe"))
	fin := frame(wire.Header{Type: wire.TypeFin, Arg: 14}, []byte{0, 0, 0, 0})
	resume := helloFrame(wire.Hello{Role: wire.RoleDialer, SessionID: id, Auth: none, Resume: true,
		Received: [wire.MaxChannels]uint64{10, 0, 0, 0}, ResumeKey: [wire.ResumeKeyLen]byte{7}})
	seeds := [][]byte{
		cat(hello, auth),
		cat(hello, auth, data, fin, frame(wire.Header{Type: wire.TypeBye}, nil)),
		cat(hello, auth, frame(wire.Header{Type: wire.TypePing, Arg: 42}, nil), frame(wire.Header{Type: wire.TypeAck, Arg: 0}, nil)),
		cat(hello, auth, frame(wire.Header{Type: wire.TypeStop, Channel: 1}, []byte("no more"))),
		cat(hello, auth, frame(wire.Header{Type: wire.TypeData, Arg: 5}, []byte("x"))), // wrong offset
		cat(hello, auth, frame(wire.Header{Type: wire.TypeAbort, Arg: 1}, []byte("bye"))),
		cat(hello, auth, frame(wire.Header{Type: wire.TypeHello}, hello[wire.HeaderLen:])), // HELLO again
		cat(helloTok, authFrame(wire.AuthToken, make([]byte, 32))),
		cat(hello, authFrame(wire.AuthToken, []byte{1})),
		cat(hello, authFrame(wire.AuthNone, []byte{1})),
		resume,
		cat(resume, auth),
		hello,
		hello[:wire.HeaderLen],
		hello[:wire.HeaderLen+5],
		hello[:len(hello)-1],
		cat(hello, auth[:len(auth)-1]),
		helloFrame(wire.Hello{Role: wire.RoleListener, Auth: none}),            // wrong role
		helloFrame(wire.Hello{Role: wire.RoleDialer, Window: 100, Auth: none}), // tiny window
		helloFrame(wire.Hello{Role: wire.RoleDialer, Auth: []wire.AuthMethod{9}}),
		frame(wire.Header{Type: wire.TypeHello}, []byte(wire.Magic+"\x01\x00\x01\x01\x01\x00\x01\x01")), // repeated tag
		frame(wire.Header{Type: wire.TypeHello}, []byte(wire.Magic+"\x90\x00\x00")),                     // critical tag
		frame(wire.Header{Type: wire.TypeHello}, []byte("nonfarpipe")),
		frame(wire.Header{Type: wire.TypeAuth}, []byte{0}),
		frame(wire.Header{Type: wire.TypeAbort, Arg: 4}, []byte("go away")),
		func() []byte {
			b := make([]byte, wire.HeaderLen)
			wire.Header{Type: wire.TypeHello, Length: 0xffffffff}.Put(b)
			return b
		}(),
		append([]byte{2}, hello[1:]...), // another version
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0},
		{},
	}
	return seeds
}

func FuzzAcceptHandshake(f *testing.F) {
	for _, s := range acceptSeeds() {
		f.Add(s, false)
	}
	id := [wire.SessionIDLen]byte{9}
	helloTok := helloFrame(wire.Hello{Role: wire.RoleDialer, SessionID: id, Auth: []wire.AuthMethod{wire.AuthToken}})
	f.Add(cat(helloTok, authFrame(wire.AuthToken, make([]byte, 32))), true)
	f.Add(helloTok, true)
	f.Fuzz(func(t *testing.T, in []byte, useHMAC bool) {
		p := newHostilePeer(in, nil)
		defer p.close()
		a := NewAcceptor(fuzzConfig(useHMAC))
		var (
			s   *Session
			err error
		)
		within(t, "Accept", func() { s, err = a.Accept(context.Background(), p.near) })
		if err != nil {
			if s != nil {
				t.Fatal("Accept returned both a session and an error")
			}
			checkHandshakeErr(t, err)
			t.Logf("Accept: %v", err)
			return
		}
		if useHMAC {
			t.Fatal("a peer without the key passed authentication")
		}
		exercise(t, s, p)
		if a.Len() != 0 {
			t.Fatalf("the Acceptor still holds %d session(s) after they ended", a.Len())
		}
	})
}

// clientSeeds returns listener byte streams for FuzzClientHandshake;
// fuzzSessionID stands for the dialer's session id.
func clientSeeds() [][]byte {
	none := []wire.AuthMethod{wire.AuthNone}
	var id [wire.SessionIDLen]byte
	copy(id[:], fuzzSessionID)
	hello := helloFrame(wire.Hello{Role: wire.RoleListener, SessionID: id, Window: 1 << 20, Auth: none, ResumeGrace: 60})
	auth := authFrame(wire.AuthNone, nil)
	data := frame(wire.Header{Type: wire.TypeData}, []byte("hello, farpipe"))
	return [][]byte{
		cat(hello, auth),
		cat(hello, auth, data, frame(wire.Header{Type: wire.TypeFin, Arg: 14}, []byte{0, 0, 0, 0})),
		cat(hello, auth, frame(wire.Header{Type: wire.TypePing, Arg: 1}, nil), frame(wire.Header{Type: wire.TypeBye}, nil)),
		cat(hello, auth, frame(wire.Header{Type: wire.TypeAck, Arg: 1}, nil)), // ACK of unsent bytes
		cat(hello, auth, frame(wire.Header{Type: wire.TypeAck, Flags: wire.FlagFin}, nil)),
		cat(hello, frame(wire.Header{Type: wire.TypeAbort, Arg: 4}, []byte("authentication failed"))),
		cat(hello, authFrame(wire.AuthToken, make([]byte, 32))),
		helloFrame(wire.Hello{Role: wire.RoleListener, SessionID: id, Auth: none, Resume: true}), // resume answer to a new session
		helloFrame(wire.Hello{Role: wire.RoleListener, Auth: none}),                              // another session id
		helloFrame(wire.Hello{Role: wire.RoleDialer, SessionID: id, Auth: none}),                 // two dialers
		helloFrame(wire.Hello{Role: wire.RoleListener, SessionID: id, Auth: []wire.AuthMethod{2}}),
		hello[:len(hello)-3],
		frame(wire.Header{Type: wire.TypeAbort, Arg: 1}, []byte("busy")),
		[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		{},
	}
}

func FuzzClientHandshake(f *testing.F) {
	for _, s := range clientSeeds() {
		f.Add(s, false)
	}
	var id [wire.SessionIDLen]byte
	copy(id[:], fuzzSessionID)
	helloTok := helloFrame(wire.Hello{Role: wire.RoleListener, SessionID: id, Auth: []wire.AuthMethod{wire.AuthToken}})
	f.Add(cat(helloTok, authFrame(wire.AuthToken, make([]byte, 32))), true)
	// Give the dialer's session id to the listener's bytes.
	rewrite := func(first, in []byte) []byte {
		var h wire.Hello
		if len(first) < wire.HeaderLen || h.UnmarshalBinary(first[wire.HeaderLen:]) != nil {
			return in
		}
		return bytes.ReplaceAll(in, fuzzSessionID, h.SessionID[:])
	}
	f.Fuzz(func(t *testing.T, in []byte, useHMAC bool) {
		p := newHostilePeer(in, rewrite)
		defer p.close()
		var (
			s   *Session
			err error
		)
		within(t, "Client", func() { s, err = Client(context.Background(), p.near, fuzzConfig(useHMAC)) })
		if err != nil {
			if s != nil {
				t.Fatal("Client returned both a session and an error")
			}
			checkHandshakeErr(t, err)
			t.Logf("Client: %v", err)
			return
		}
		if useHMAC {
			t.Fatal("a listener without the key passed authentication")
		}
		exercise(t, s, p)
	})
}

// TestFuzzSeedsReachSessions checks that the fuzz harness works: the first
// seed of each target is a complete handshake and yields a session.
func TestFuzzSeedsReachSessions(t *testing.T) {
	p := newHostilePeer(acceptSeeds()[1], nil)
	s, err := NewAcceptor(fuzzConfig(false)).Accept(context.Background(), p.near)
	if err != nil {
		t.Fatalf("Accept of a valid dialer: %v", err)
	}
	exercise(t, s, p)
	p.close()

	rewrite := func(first, in []byte) []byte {
		var h wire.Hello
		if len(first) < wire.HeaderLen || h.UnmarshalBinary(first[wire.HeaderLen:]) != nil {
			t.Error("the dialer's first frame is not a HELLO")
			return in
		}
		return bytes.ReplaceAll(in, fuzzSessionID, h.SessionID[:])
	}
	p = newHostilePeer(clientSeeds()[1], rewrite)
	s, err = Client(context.Background(), p.near, fuzzConfig(false))
	if err != nil {
		t.Fatalf("Client against a valid listener: %v", err)
	}
	exercise(t, s, p)
	p.close()
}
