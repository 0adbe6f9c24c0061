package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the frame decoder the way a session's
// read loop does. No input may panic, hang, or make the decoder hand out a
// payload larger than its type's limit.
func FuzzReader(f *testing.F) {
	hello, _ := (&Hello{Role: RoleDialer, Auth: []AuthMethod{AuthNone}}).MarshalBinary()
	seeds := [][]byte{
		append(hdr(Header{Type: TypeHello, Length: uint32(len(hello))}), hello...),
		append(hdr(Header{Type: TypeData, Length: 3, Arg: 0}), "abc"...),
		hdr(Header{Type: TypeAck, Flags: FlagFin, Arg: 3}),
		append(hdr(Header{Type: TypeFin, Length: 4, Arg: 3}), 1, 2, 3, 4),
		append(hdr(Header{Type: TypeAbort, Length: 2}), "no"...),
		hdr(Header{Type: TypeData, Length: 0xffffffff}), // absurd length
		hdr(Header{Type: TypeData, Length: 100})[:HeaderLen-3],
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 0)
		for range 1000 {
			h, err := r.Next()
			if err != nil {
				if !errors.Is(err, ErrProtocol) && err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			info, _ := h.Type.info()
			if h.Length > info.maxLen {
				t.Fatalf("accepted %v frame of %d bytes", h.Type, h.Length)
			}
			switch h.Type {
			case TypeData:
				if err := r.ReadData(make([]byte, h.Length)); err != nil {
					return
				}
			case TypeHello:
				p, err := r.Payload()
				if err != nil {
					return
				}
				var hl Hello
				_ = hl.UnmarshalBinary(p)
			case TypeAuth:
				p, err := r.Payload()
				if err != nil {
					return
				}
				var a Auth
				_ = a.UnmarshalBinary(p)
			default:
				if _, err := r.Payload(); err != nil {
					return
				}
			}
		}
	})
}

// FuzzHello checks the handshake decoder: no panic, and whatever decodes
// re-encodes to something that decodes to the same value.
func FuzzHello(f *testing.F) {
	for _, h := range []Hello{
		{Role: RoleDialer, Auth: []AuthMethod{AuthNone}},
		{Role: RoleListener, Auth: []AuthMethod{1, 2}, Resume: true, Received: [MaxChannels]uint64{1, 2, 3, 4}},
		{Role: RoleDialer, Auth: []AuthMethod{1}, App: "send", Compress: []Compression{CompressZstd, CompressNone}},
	} {
		b, _ := h.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte(Magic + "\x01\x00\x01\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var h Hello
		if err := h.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error does not match ErrProtocol: %v", err)
			}
			return
		}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded hello does not encode: %v", err)
		}
		var h2 Hello
		if err := h2.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-encoded hello does not decode: %v", err)
		}
		b2, _ := h2.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatal("hello is not stable under re-encoding")
		}
	})
}
