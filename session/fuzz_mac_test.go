package session

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// FuzzTaggedFrames feeds arbitrary bytes, as the frames after the
// handshake, to a link whose frames carry integrity tags (a connection
// without TLS), through the session's own read path. Whatever the bytes,
// nothing panics, and the session accepts a frame only if it and every
// frame before it carry the right tag: the count of frames accepted never
// exceeds the count of leading frames that an independent check verifies.
func FuzzTaggedFrames(f *testing.F) {
	for _, seed := range taggedSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, l := taggedLink(t, in)
		accepted := 0
		within(t, "reading the frames", func() {
			for s.applyNext(l) == nil {
				accepted++
			}
		})
		if valid := validTaggedPrefix(in); accepted > valid {
			t.Fatalf("the session accepted %d frames, only the first %d carry valid tags", accepted, valid)
		}
		// The state stays consistent whatever was accepted.
		for _, st := range s.streams {
			r := &st.rcv
			if r.delivered > r.consumed || r.consumed > r.received || r.received-r.delivered > uint64(s.window) {
				t.Fatalf("channel %d: delivered %d, consumed %d, received %d", st.id, r.delivered, r.consumed, r.received)
			}
		}
	})
}

// Keys of the fuzzed link: the peer sends under fuzzPeerKey, which is the
// link's receiving key.
var (
	fuzzPeerKey = []byte("peer's frame key")
	fuzzOurKey  = []byte("our frame key...")
)

// readOnlyConn is a connection that reads r and swallows writes.
type readOnlyConn struct {
	net.Conn // nil: other methods are not called
	r        io.Reader
}

func (c *readOnlyConn) Read(b []byte) (int, error)         { return c.r.Read(b) }
func (c *readOnlyConn) Write(b []byte) (int, error)        { return len(b), nil }
func (c *readOnlyConn) SetReadDeadline(time.Time) error    { return nil }
func (c *readOnlyConn) Close() error                       { return nil }
func (c *readOnlyConn) LocalAddr() net.Addr                { return nil }
func (c *readOnlyConn) RemoteAddr() net.Addr               { return nil }
func (c *readOnlyConn) SetDeadline(t time.Time) error      { return nil }
func (c *readOnlyConn) SetWriteDeadline(t time.Time) error { return nil }

// taggedLink returns an established session (no goroutines) and a link
// with frame tags that reads in.
func taggedLink(t *testing.T, in []byte) (*Session, *link) {
	cfg := fuzzConfig(false)
	s := newSession(cfg, wire.RoleListener)
	t.Cleanup(s.cancel)
	s.window, s.ackEvery = cfg.Window, uint64(cfg.Window/4)
	for _, st := range s.streams {
		st.snd.window = cfg.Window
		st.snd.sent, st.snd.written = 100, 100 // so that ACK and STOP have room
	}
	l := newLink(&readOnlyConn{r: bytes.NewReader(in)})
	mac, err := newFrameMAC(fuzzOurKey, fuzzPeerKey)
	if err != nil {
		t.Fatal(err)
	}
	l.mac = mac
	s.ln = l
	return s, l
}

// validTaggedPrefix counts the leading frames of in that are whole and
// carry the right tag, checked apart from the session's read path.
func validTaggedPrefix(in []byte) int {
	mac, _ := newFrameMAC(fuzzOurKey, fuzzPeerKey)
	n := 0
	for seq := uint64(0); ; seq++ {
		if len(in) < wire.HeaderLen {
			return n
		}
		h, err := wire.ParseHeader(in[:wire.HeaderLen])
		if err != nil || uint64(len(in)) < uint64(wire.HeaderLen)+uint64(h.Length)+TagLen {
			return n
		}
		end := wire.HeaderLen + int(h.Length)
		var hdr [wire.HeaderLen]byte
		h.Put(hdr[:])
		want := mac.recv.tag(seq, hdr[:], in[wire.HeaderLen:end])
		if subtle.ConstantTimeCompare(want, in[end:end+TagLen]) != 1 {
			return n
		}
		n++
		in = in[end+TagLen:]
	}
}

// taggedSeeds returns valid tagged frame sequences and broken variants.
func taggedSeeds() [][]byte {
	peer, _ := newFrameMAC(fuzzPeerKey, fuzzOurKey)
	var hdr [wire.HeaderLen]byte
	put := func(b []byte, h wire.Header, p []byte) []byte {
		h.Length = uint32(len(p))
		h.Put(hdr[:])
		b = append(append(b, hdr[:]...), p...)
		return peer.seal(b, hdr[:], p)
	}
	var fin [wire.FinLen]byte
	msg := []byte("hello, farpipe")
	binary.BigEndian.PutUint32(fin[:], crc32.Checksum(msg, castagnoli))
	var valid []byte
	valid = put(valid, wire.Header{Type: wire.TypeData, Channel: 0}, msg)
	valid = put(valid, wire.Header{Type: wire.TypeAck, Channel: 1, Arg: 50}, nil)
	valid = put(valid, wire.Header{Type: wire.TypePing, Arg: 7}, nil)
	valid = put(valid, wire.Header{Type: wire.TypeData, Channel: 2}, bytes.Repeat([]byte{1}, 2000))
	valid = put(valid, wire.Header{Type: wire.TypeStop, Channel: 3, Arg: 60}, []byte("disk full"))
	valid = put(valid, wire.Header{Type: wire.TypeFin, Channel: 0, Arg: uint64(len(msg))}, fin[:])
	peer2, _ := newFrameMAC(fuzzPeerKey, fuzzOurKey)
	peer = peer2
	var resent []byte // DATA sent twice, as after a resumption
	resent = put(resent, wire.Header{Type: wire.TypeData}, msg)
	resent = put(resent, wire.Header{Type: wire.TypeData}, append(msg, "more"...))
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-1] ^= 1
	flippedData := bytes.Clone(valid)
	flippedData[wire.HeaderLen+3] ^= 0x40
	return [][]byte{
		valid,
		resent,
		flipped,
		flippedData,
		valid[:len(valid)-5],
		valid[:wire.HeaderLen+len(msg)],     // no tag
		append(bytes.Clone(valid), 0, 1, 2), // garbage after
		{},
	}
}

// TestTaggedSeeds checks the harness of FuzzTaggedFrames: the valid seeds
// are accepted whole, and a flipped bit stops the session at its frame.
func TestTaggedSeeds(t *testing.T) {
	seeds := taggedSeeds()
	for _, tc := range []struct {
		name string
		in   []byte
		want int
	}{
		{"valid", seeds[0], 6},
		{"resent", seeds[1], 2},
		{"last tag flipped", seeds[2], 5},
		{"first payload flipped", seeds[3], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, l := taggedLink(t, tc.in)
			accepted := 0
			for s.applyNext(l) == nil {
				accepted++
			}
			if accepted != tc.want || validTaggedPrefix(tc.in) != tc.want {
				t.Fatalf("accepted %d, verified apart %d, want %d", accepted, validTaggedPrefix(tc.in), tc.want)
			}
		})
	}
}
