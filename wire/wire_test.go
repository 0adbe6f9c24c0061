package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func hdr(h Header) []byte {
	b := make([]byte, HeaderLen)
	h.Put(b)
	return b
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error // nil: valid
	}{
		{"data", hdr(Header{Type: TypeData, Channel: 3, Length: MaxData, Arg: 1 << 40}), nil},
		{"ack fin", hdr(Header{Type: TypeAck, Flags: FlagFin, Arg: 7}), nil},
		{"fin", hdr(Header{Type: TypeFin, Length: FinLen}), nil},
		{"ping", hdr(Header{Type: TypePing, Arg: 99}), nil},
		{"short", make([]byte, HeaderLen-1), ErrMalformed},
		{"version", append([]byte{2}, hdr(Header{Type: TypePing})[1:]...), ErrVersion},
		{"unknown type", hdr(Header{Type: 0x7f}), ErrMalformed},
		{"type zero", hdr(Header{Type: 0}), ErrMalformed},
		{"data too large", hdr(Header{Type: TypeData, Length: MaxData + 1}), ErrTooLarge},
		{"absurd length", hdr(Header{Type: TypeData, Length: 0xffffffff}), ErrTooLarge},
		{"empty data", hdr(Header{Type: TypeData}), ErrMalformed},
		{"channel", hdr(Header{Type: TypeData, Channel: MaxChannels, Length: 1}), ErrMalformed},
		{"session frame on channel", hdr(Header{Type: TypePing, Channel: 1}), ErrMalformed},
		{"unknown flag", hdr(Header{Type: TypeAck, Flags: 0x80}), ErrMalformed},
		{"ack with payload", hdr(Header{Type: TypeAck, Length: 1}), ErrTooLarge},
		{"fin short", hdr(Header{Type: TypeFin, Length: 3}), ErrMalformed},
		{"hello too large", hdr(Header{Type: TypeHello, Length: MaxHello + 1}), ErrTooLarge},
		{"abort reason too large", hdr(Header{Type: TypeAbort, Length: MaxReason + 1}), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ParseHeader: %v", err)
				}
				if !bytes.Equal(hdr(h), tt.in) {
					t.Fatalf("round trip: got % x, want % x", hdr(h), tt.in)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrProtocol) {
				t.Fatalf("ParseHeader error = %v, want %v (and ErrProtocol)", err, tt.want)
			}
			if msg := err.Error(); len(msg) < 9 || msg[:9] != "farpipe: " {
				t.Fatalf("error %q does not start with farpipe:", msg)
			}
		})
	}
}

func TestHelloRoundTrip(t *testing.T) {
	tests := []Hello{
		{Role: RoleDialer, Auth: []AuthMethod{AuthNone}},
		{Role: RoleListener, Window: 8 << 20, Auth: []AuthMethod{3, AuthNone}, ResumeGrace: 60,
			SessionID: [16]byte{1, 2, 3}, Nonce: [32]byte{9},
			Resume: true, Received: [MaxChannels]uint64{1, 1 << 60, 0, 5}, ResumeKey: [32]byte{7}},
		{Role: RoleDialer, Auth: []AuthMethod{AuthToken}, Compress: []Compression{CompressZstd, CompressNone, 200}},
		{Role: RoleListener, Auth: []AuthMethod{AuthToken}, Compress: []Compression{CompressZstd}},
	}
	for _, in := range tests {
		b, err := in.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var out Hello
		if err := out.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		b2, _ := out.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip differs:\n% x\n% x", b, b2)
		}
		if len(out.Compress) != len(in.Compress) {
			t.Fatalf("compressions %v came back as %v", in.Compress, out.Compress)
		}
	}
	if _, err := (&Hello{Role: RoleDialer, Auth: []AuthMethod{AuthNone}, Compress: make([]Compression, MaxCompress+1)}).MarshalBinary(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("hello with %d compressions: %v, want ErrMalformed", MaxCompress+1, err)
	}
}

func TestHelloRejects(t *testing.T) {
	good, _ := (&Hello{Role: RoleDialer, Auth: []AuthMethod{AuthNone}}).MarshalBinary()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"http", []byte("GET / HTTP/1.1\r\n"), ErrNotFarpipe},
		{"empty", nil, ErrNotFarpipe},
		{"truncated field", good[:len(good)-1], ErrMalformed},
		{"critical unknown", append(append([]byte{}, good...), 0x90, 0, 0), ErrMalformed},
		{"repeated", append(append([]byte{}, good...), good[8:12]...), ErrMalformed},
		{"missing fields", []byte(Magic), ErrMalformed},
		{"empty compressions", append(append([]byte{}, good...), tagCompress, 0, 0), ErrMalformed},
		{"too many compressions", append(append([]byte{}, good...), tagCompress, 0, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Hello
			if err := h.UnmarshalBinary(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Unknown non-critical fields are skipped.
	var h Hello
	if err := h.UnmarshalBinary(append(append([]byte{}, good...), 0x40, 0, 2, 1, 2)); err != nil {
		t.Fatalf("unknown optional field: %v", err)
	}
}

func TestReader(t *testing.T) {
	var buf bytes.Buffer
	buf.Write(hdr(Header{Type: TypeData, Channel: 1, Length: 5, Arg: 10}))
	buf.WriteString("hello")
	buf.Write(hdr(Header{Type: TypeAbort, Length: 3, Arg: 2}))
	buf.WriteString("bye")
	buf.Write(hdr(Header{Type: TypeData, Length: 4}))
	buf.WriteString("skip")
	buf.Write(hdr(Header{Type: TypePing, Arg: 1}))
	buf.Write(hdr(Header{Type: TypeData, Length: 10}))
	buf.WriteString("short")

	r := NewReader(&buf, 0)
	h, err := r.Next()
	if err != nil || h.Type != TypeData || h.Arg != 10 {
		t.Fatalf("Next = %+v, %v", h, err)
	}
	p := make([]byte, 5)
	if err := r.ReadData(p[:2]); err != nil {
		t.Fatal(err)
	}
	if err := r.ReadData(p[2:]); err != nil || string(p) != "hello" {
		t.Fatalf("ReadData = %q, %v", p, err)
	}
	if err := r.ReadData(p[:1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("reading past the payload: %v", err)
	}
	if h, _ = r.Next(); h.Type != TypeAbort {
		t.Fatalf("got %v", h.Type)
	}
	if pl, err := r.Payload(); err != nil || string(pl) != "bye" {
		t.Fatalf("Payload = %q, %v", pl, err)
	}
	if _, err := r.Next(); err != nil { // DATA "skip", never consumed
		t.Fatal(err)
	}
	if h, err = r.Next(); err != nil || h.Type != TypePing {
		t.Fatalf("after unconsumed payload: %+v, %v", h, err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.ReadData(make([]byte, 10)); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated payload: %v", err)
	}
}
