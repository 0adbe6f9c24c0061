package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// --verify makes gocopy the ceiling for a tool that checks every byte it
// moves the way farpipe --no-encrypt does, with nothing else: the sender
// cuts the stream into frames of verifyFrame bytes, each with a 4-byte
// length and an AES-128-GCM tag over the length and the payload (GCM used
// as a MAC, a frame counter as nonce), and ends it with a frame that
// carries the CRC-32C of the whole stream. The receiver checks each tag
// before it writes the payload out, and the checksum before it exits 0.
//
// The key is a constant: this measures the cost of the checks, it does not
// protect anything.

// verifyFrame is the payload of a full frame, farpipe's default frame size.
const verifyFrame = 256 << 10

// endFrame, in a frame's length field, marks the last frame, whose 4-byte
// payload is the CRC-32C of the stream.
const endFrame = 1 << 31

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// verifier computes and checks the frames' tags.
type verifier struct {
	gcm   cipher.AEAD
	nonce [12]byte
	count uint64
	tag   []byte
}

func newVerifier() *verifier {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &verifier{gcm: gcm, tag: make([]byte, 0, 16)}
}

// sum returns the tag of the next frame, which carries payload and has hdr
// as its length field; the tag is valid until the next call. The nonce is
// the frame counter and the length field, so the tag covers both.
func (v *verifier) sum(hdr uint32, payload []byte) []byte {
	binary.BigEndian.PutUint64(v.nonce[:8], v.count)
	binary.BigEndian.PutUint32(v.nonce[8:], hdr)
	v.count++
	return v.gcm.Seal(v.tag[:0], v.nonce[:], nil, payload)
}

// sendVerified copies src to c as tagged frames, a buffer of frames per
// write: each frame is a 4-byte length, the payload and a 16-byte tag.
func sendVerified(c io.Writer, src io.Reader) error {
	v := newVerifier()
	var crc uint32
	frames := bufSize / verifyFrame
	buf := make([]byte, frames*(4+verifyFrame+16)+8+16)
	for {
		off, last := 0, false
		for i := 0; i < frames && !last; i++ {
			p := buf[off+4 : off+4+verifyFrame]
			n, err := io.ReadFull(src, p)
			switch {
			case err == io.EOF || err == io.ErrUnexpectedEOF:
				last = true
			case err != nil:
				return err
			}
			if n == 0 {
				break
			}
			crc = crc32.Update(crc, castagnoli, p[:n])
			binary.BigEndian.PutUint32(buf[off:], uint32(n))
			copy(buf[off+4+n:], v.sum(uint32(n), p[:n]))
			off += 4 + n + 16
		}
		if last {
			binary.BigEndian.PutUint32(buf[off:], endFrame|4)
			binary.BigEndian.PutUint32(buf[off+4:], crc)
			copy(buf[off+8:], v.sum(endFrame|4, buf[off+4:off+8]))
			off += 8 + 16
		}
		if _, err := c.Write(buf[:off]); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// recvVerified reads tagged frames from c straight into its output buffer
// and writes the buffer to dst when it is full, each payload only once its
// tag checks out, and returns nil only once the stream's checksum does.
func recvVerified(dst io.Writer, c io.Reader) error {
	v := newVerifier()
	var crc uint32
	out := make([]byte, bufSize)
	var hdrTag [4 + 16]byte
	fill := 0
	for {
		if _, err := io.ReadFull(c, hdrTag[:4]); err != nil {
			return fmt.Errorf("reading a frame header: %v", err)
		}
		hdr := binary.BigEndian.Uint32(hdrTag[:4])
		n := int(hdr &^ endFrame)
		if n > verifyFrame || n == 0 || (hdr&endFrame != 0 && n != 4) {
			return fmt.Errorf("bad frame length %#x", hdr)
		}
		if fill+n > len(out) {
			if _, err := dst.Write(out[:fill]); err != nil {
				return err
			}
			fill = 0
		}
		p := out[fill : fill+n]
		if _, err := io.ReadFull(c, p); err != nil {
			return fmt.Errorf("reading a frame: %v", err)
		}
		if _, err := io.ReadFull(c, hdrTag[4:]); err != nil {
			return fmt.Errorf("reading a frame's tag: %v", err)
		}
		if subtle.ConstantTimeCompare(v.sum(hdr, p), hdrTag[4:]) != 1 {
			return errors.New("a frame's tag does not match")
		}
		if hdr&endFrame != 0 {
			if binary.BigEndian.Uint32(p) != crc {
				return errors.New("the stream's checksum does not match")
			}
			_, err := dst.Write(out[:fill])
			return err
		}
		crc = crc32.Update(crc, castagnoli, p)
		fill += n
	}
}
