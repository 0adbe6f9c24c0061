package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/farpipe/farpipe/wire"
)

// FrameKeyer is implemented by an Authenticator that can derive keys to
// authenticate every frame of a connection that is not encrypted. It
// returns nil keys when the connection needs none (TLS protects it).
type FrameKeyer interface {
	// FrameKeys returns the 16-byte keys of the frames this side sends and
	// of those it receives; role is this side's role.
	FrameKeys(t *Transcript, role wire.Role) (send, recv []byte, err error)
}

// TagLen is the size of the tag that follows every frame of an
// authenticated, unencrypted connection.
const TagLen = 16

// frameMAC authenticates the frames of one connection in each direction.
// A frame's tag is the AES-128-GCM tag of its header (as plaintext, whose
// ciphertext is discarded) with its payload as additional data, under a
// nonce that counts the frames of that direction on this connection. Keys
// are new for every connection, so nonces never repeat. The send half is
// used only by the writeLoop and the receive half only by the readLoop.
type frameMAC struct {
	send, recv macHalf
}

// macHalf is one direction's state.
type macHalf struct {
	aead    cipher.AEAD
	seq     uint64
	scratch [2 * TagLen]byte
	nonce   [12]byte
	hdr     [wire.HeaderLen]byte // verify's encoding of the header: no allocation per frame
}

func newFrameMAC(sendKey, recvKey []byte) (*frameMAC, error) {
	send, err := newGCM(sendKey)
	if err != nil {
		return nil, err
	}
	recv, err := newGCM(recvKey)
	if err != nil {
		return nil, err
	}
	return &frameMAC{send: macHalf{aead: send}, recv: macHalf{aead: recv}}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("farpipe: frame key: %v", err)
	}
	return cipher.NewGCM(b)
}

// tag computes the tag of frame number seq of this direction.
func (h *macHalf) tag(seq uint64, hdr, payload []byte) []byte {
	binary.BigEndian.PutUint64(h.nonce[4:], seq)
	return h.aead.Seal(h.scratch[:0], h.nonce[:], hdr, payload)[wire.HeaderLen:]
}

// seal appends the tag of the next frame sent, whose header and payload
// are given.
func (m *frameMAC) seal(b, hdr, payload []byte) []byte {
	t := m.send.tag(m.send.seq, hdr, payload)
	m.send.seq++
	return append(b, t...)
}

// reserve returns the sequence number of the next frame sent, whose tag
// sealAt computes later.
func (m *frameMAC) reserve() uint64 {
	m.send.seq++
	return m.send.seq - 1
}

func (m *frameMAC) sealAt(b []byte, seq uint64, hdr, payload []byte) []byte {
	return append(b, m.send.tag(seq, hdr, payload)...)
}

// verify checks the tag of the next frame received.
func (m *frameMAC) verify(h wire.Header, payload, got []byte) error {
	h.Put(m.recv.hdr[:])
	want := m.recv.tag(m.recv.seq, m.recv.hdr[:], payload)
	m.recv.seq++
	if subtle.ConstantTimeCompare(want, got) != 1 {
		return fmt.Errorf("%w: %v frame on channel %d failed its integrity check: the connection was tampered with", wire.ErrMalformed, h.Type, h.Channel)
	}
	return nil
}
