package code

import (
	"bytes"
	"errors"
	"testing"

	"github.com/farpipe/farpipe/internal/cpace"
	"github.com/farpipe/farpipe/secure"
)

func sampleMessages() []message {
	id := [idLen]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	pake := bytes.Repeat([]byte{7}, pakeLen)
	tag := bytes.Repeat([]byte{9}, cpace.TagSize)
	return []message{
		{typ: tProbe, id: id},
		{typ: tHello, id: id},
		{typ: tHere, id: id},
		{typ: tPake1, id: id, pake: pake},
		{typ: tPake2, id: id, pake: pake, tag: tag},
		{typ: tConfirm, id: id, tag: tag},
		{typ: tFail, id: id},
		{typ: tStatus, status: stTaken},
		{typ: tStatus, status: stBad},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b := m.encode()
		if len(b) != msgLen[m.typ] {
			t.Errorf("type %d: %d bytes, want %d", m.typ, len(b), msgLen[m.typ])
		}
		got, err := decode(b)
		if err != nil {
			t.Fatalf("type %d: %v", m.typ, err)
		}
		if !bytes.Equal(got.encode(), b) {
			t.Errorf("type %d: round trip %x != %x", m.typ, got.encode(), b)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	hello := message{typ: tHello}.encode()
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{wireVersion}},
		{"version 0", append([]byte{0}, hello[1:]...)},
		{"version 2", append([]byte{2}, hello[1:]...)},
		{"unknown type", []byte{wireVersion, 99, 0}},
		{"type 0", []byte{wireVersion, 0}},
		{"short", hello[:len(hello)-1]},
		{"long", append(append([]byte(nil), hello...), 0)},
		{"bad status", []byte{wireVersion, byte(tStatus), 0}},
		{"status too high", []byte{wireVersion, byte(tStatus), stBad + 1}},
		{"huge", make([]byte, maxMessage+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decode(tc.b); !errors.Is(err, ErrProtocol) {
				t.Fatalf("decode(%x): %v, want ErrProtocol", tc.b, err)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	key := bytes.Repeat([]byte{1}, cpace.KeySize)
	a, err := derive(key, []byte("sid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := secure.CheckToken(a.Token); err != nil {
		t.Fatalf("token %q: %v", a.Token, err)
	}
	if len(a.Token) != len(secure.NewToken()) || len(a.Name) != 32 {
		t.Fatalf("token %q, name %q", a.Token, a.Name)
	}
	b, _ := derive(key, []byte("sie"))
	c, _ := derive(append([]byte{2}, key[1:]...), []byte("sid"))
	if a == b || a == c || a.Token == a.Name {
		t.Fatal("the secret does not depend on the key and sid")
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(m.encode())
	}
	f.Add([]byte{wireVersion, byte(tStatus), 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if !bytes.Equal(m.encode(), b) {
			t.Fatalf("%x decodes to a message that encodes to %x", b, m.encode())
		}
	})
}
