package nats

import (
	"bytes"
	"testing"
)

// FuzzParseRendezvous feeds arbitrary bytes to the decoder of rendezvous
// messages (dial requests, their answers, probes): it must never panic, and
// what it accepts must encode back to the same bytes.
func FuzzParseRendezvous(f *testing.F) {
	f.Add(hello{kind: kindDial, window: defaultWindow, inbox: "_INBOX.abc"}.append(nil))
	f.Add(hello{kind: kindAccept, window: minWindow, inbox: "_INBOX.x.y"}.append(nil))
	f.Add(appendProbe(nil, make([]byte, idLen)))
	f.Add(appendRefuse(nil, "busy"))
	f.Add([]byte{kindDial, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRendezvous(b)
		if err != nil {
			return
		}
		var again []byte
		switch r.kind {
		case kindDial, kindAccept:
			again = r.hello.append(nil)
		case kindProbe:
			again = appendProbe(nil, r.id)
		case kindRefuse:
			again = appendRefuse(nil, r.reason)
			if !bytes.Equal(again, b) && printable(b[2:]) == r.reason {
				return // non-printable bytes were replaced
			}
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%q decodes to %+v, which encodes to %q", b, r, again)
		}
	})
}

// FuzzParseConn does the same for connection messages.
func FuzzParseConn(f *testing.F) {
	f.Add(append(appendConnHeader(nil, kindData, 0), "hello"...))
	f.Add(append(appendConnHeader(nil, kindCredit, 3), 0, 0, 0, 0, 0, 0, 1, 0))
	f.Add(appendConnHeader(nil, kindFin, 7))
	f.Add(appendConnHeader(nil, kindClose, 9))
	f.Add([]byte("64000000000000000168656c6c6f")) // the NATS header's hex form, then data
	f.Fuzz(func(t *testing.T, b []byte) {
		// As it arrives: the first 18 bytes as the header's value.
		h := b[:min(len(b), 2*connHeader)]
		if m, err := parseConnMsg(string(h), b[len(h):]); err == nil && m.kind == kindData && len(m.data) == 0 {
			t.Fatal("accepted data without bytes")
		}
		m, err := parseConn(b)
		if err != nil {
			return
		}
		if m.kind == kindData && len(m.data) == 0 {
			t.Fatal("accepted data without bytes")
		}
		if len(b) < connHeader {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}
