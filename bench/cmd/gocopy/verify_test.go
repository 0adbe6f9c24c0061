package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// stream is what sendVerified writes for data.
func stream(t testing.TB, data []byte) []byte {
	t.Helper()
	var wire bytes.Buffer
	if err := sendVerified(&wire, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return wire.Bytes()
}

func TestVerifiedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, verifyFrame - 1, verifyFrame, verifyFrame + 1, bufSize, bufSize + 5, 3*bufSize + 7} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		var out bytes.Buffer
		if err := recvVerified(&out, bytes.NewReader(stream(t, data))); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("%d bytes: received %d bytes that differ from those sent", size, out.Len())
		}
	}
}

// TestVerifiedRejects flips one bit in each part of a frame, and cuts the
// stream short: the receiver must fail, and must not write a byte of a
// frame whose tag does not match.
func TestVerifiedRejects(t *testing.T) {
	data := bytes.Repeat([]byte("farpipe "), verifyFrame/8+100) // a full frame and a short one
	good := stream(t, data)
	short := len(data) - verifyFrame
	endAt := 2*(4+16) + len(data) // where the end frame starts
	for _, c := range []struct {
		name  string
		at    int // the byte whose low bit is flipped, or -1
		cut   int // bytes kept, or 0 for all
		wrote int // most bytes the receiver may have written
	}{
		{name: "length of the first frame", at: 3, wrote: 0},
		{name: "payload of the first frame", at: 4 + 1000, wrote: 0},
		{name: "tag of the first frame", at: 4 + verifyFrame + 5, wrote: 0},
		{name: "payload of the second frame", at: 4 + verifyFrame + 16 + 4 + 10, wrote: verifyFrame},
		{name: "the end frame's checksum field", at: endAt + 4, wrote: len(data)},
		{name: "cut inside a frame", at: -1, cut: 4 + verifyFrame + 16 + 4 + short/2, wrote: verifyFrame},
		{name: "cut before the end frame", at: -1, cut: endAt, wrote: len(data)},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Clone(good)
			if c.at >= 0 {
				bad[c.at] ^= 1
			}
			if c.cut > 0 {
				bad = bad[:c.cut]
			}
			var out bytes.Buffer
			err := recvVerified(&out, bytes.NewReader(bad))
			if err == nil {
				t.Fatal("accepted")
			}
			if out.Len() > c.wrote {
				t.Fatalf("wrote %d bytes, at most %d were checked", out.Len(), c.wrote)
			}
			t.Log(err)
		})
	}
}

// TestVerifiedChecksum sends an end frame with a valid tag over a wrong
// checksum (the key is a constant, so the test can forge one): only the
// checksum catches it.
func TestVerifiedChecksum(t *testing.T) {
	data := []byte("farpipe")
	bad := stream(t, data)
	end := bad[4+len(data)+16:]
	binary.BigEndian.PutUint32(end[4:], binary.BigEndian.Uint32(end[4:])+1)
	v := newVerifier()
	v.count = 1 // the end frame follows one data frame
	copy(end[8:], v.sum(endFrame|4, end[4:8]))
	var out bytes.Buffer
	err := recvVerified(&out, bytes.NewReader(bad))
	if err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("got %v, want a checksum mismatch", err)
	}
	if out.Len() > 0 {
		t.Fatalf("wrote %d bytes of a stream whose checksum does not match", out.Len())
	}
}

func FuzzRecvVerified(f *testing.F) {
	f.Add(stream(f, nil))
	f.Add(stream(f, []byte("a few bytes")))
	f.Add(stream(f, make([]byte, verifyFrame+3)))
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = recvVerified(io.Discard, bytes.NewReader(in))
	})
}
