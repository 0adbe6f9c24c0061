package nats

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// version is the version of the messages below. A peer that sends another
// one is refused with a message that names both.
const version = 1

// Kinds of message. Rendezvous messages travel on the subject of a name
// (farpipe.pipe.NAME) as NATS requests; connection messages on the inbox of
// one end of one connection.
const (
	kindDial   byte = 'D' // dialer -> listener: open a connection (request)
	kindProbe  byte = 'P' // listener -> listener: is this name in use? (request)
	kindAccept byte = 'A' // listener -> dialer: here is my inbox (reply)
	kindRefuse byte = 'R' // listener -> dialer or prober: no (reply)

	kindData   byte = 'd' // bytes of the stream
	kindCredit byte = 'c' // the sender may send up to this many bytes in all
	kindFin    byte = 'f' // no more data from this end (CloseWrite)
	kindClose  byte = 'x' // this end closed the connection
)

// Limits of the rendezvous messages. A subject is at most maxSubject bytes,
// a refusal's reason at most maxReason.
const (
	maxSubject = 255
	maxReason  = 255
	idLen      = 16
)

// connHeader is the size of the header of every connection message: its
// kind and its sequence number.
const connHeader = 1 + 8

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("farpipe: malformed message from the relay")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
}

// hello is a dial request or its acceptance: the version, the credit its
// sender grants (the bytes the peer may send before it hears more) and the
// inbox its sender reads.
type hello struct {
	kind   byte // kindDial or kindAccept
	window uint32
	inbox  string
}

func (h hello) append(b []byte) []byte {
	b = append(b, h.kind, version)
	b = binary.BigEndian.AppendUint32(b, h.window)
	b = append(b, byte(len(h.inbox)))
	return append(b, h.inbox...)
}

// rendezvous is a decoded rendezvous message.
type rendezvous struct {
	kind   byte
	hello  hello  // kindDial, kindAccept
	id     []byte // kindProbe
	reason string // kindRefuse
}

// parseRendezvous decodes a message sent on a name's subject or in reply to
// one. It never panics and refuses anything it does not fully understand.
func parseRendezvous(b []byte) (rendezvous, error) {
	if len(b) < 2 {
		return rendezvous{}, malformed("%d bytes", len(b))
	}
	kind, ver, b := b[0], b[1], b[2:]
	if ver != version {
		return rendezvous{}, fmt.Errorf("farpipe: the peer speaks version %d of the relay protocol and this farpipe version %d: run the same farpipe release on both ends", ver, version)
	}
	switch kind {
	case kindDial, kindAccept:
		if len(b) < 5 {
			return rendezvous{}, malformed("hello of %d bytes", len(b))
		}
		h := hello{kind: kind, window: binary.BigEndian.Uint32(b)}
		n := int(b[4])
		b = b[5:]
		if n == 0 || n != len(b) {
			return rendezvous{}, malformed("inbox of %d bytes in %d", n, len(b))
		}
		if h.window < minWindow {
			return rendezvous{}, malformed("window of %d bytes", h.window)
		}
		h.inbox = string(b)
		if !validSubject(h.inbox) {
			return rendezvous{}, malformed("inbox %q", h.inbox)
		}
		return rendezvous{kind: kind, hello: h}, nil
	case kindProbe:
		if len(b) != idLen {
			return rendezvous{}, malformed("probe of %d bytes", len(b))
		}
		return rendezvous{kind: kind, id: b}, nil
	case kindRefuse:
		if len(b) > maxReason {
			return rendezvous{}, malformed("refusal of %d bytes", len(b))
		}
		return rendezvous{kind: kind, reason: printable(b)}, nil
	}
	return rendezvous{}, malformed("kind %q", kind)
}

func appendProbe(b, id []byte) []byte {
	return append(append(b, kindProbe, version), id...)
}

func appendRefuse(b []byte, reason string) []byte {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	return append(append(b, kindRefuse, version), reason...)
}

// Roles of a connection's inbox: the end that dialed, or the end the
// listener accepted.
const (
	roleDial   = "d"
	roleListen = "l"
)

// pipeInbox is the inbox of one end of a connection at the pipe name:
// _INBOX.<unique>.fp.<role>.<name>. Its peer accepts any subject; the
// name and role in it let the relay's page (package relay) tell which
// pipe and which end a subscription belongs to without reading messages.
func pipeInbox(nc interface{ NewInbox() string }, role, name string) string {
	return nc.NewInbox() + ".fp." + role + "." + name
}

// validSubject reports whether s can be a subject farpipe publishes to: at
// most maxSubject bytes of printable ASCII without spaces or wildcards.
func validSubject(s string) bool {
	if s == "" || len(s) > maxSubject || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '*' || c == '>' {
			return false
		}
	}
	return true
}

// printable returns b with anything but printable ASCII replaced, so a
// reason from the network cannot inject lines into a terminal or a log.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < ' ' || c > '~' {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// connMsg is a decoded connection message.
type connMsg struct {
	kind   byte
	seq    uint64
	data   []byte // kindData: the bytes; kindClose: the reason
	credit uint64 // kindCredit
}

// appendConnHeader appends the header of a connection message.
func appendConnHeader(b []byte, kind byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, kind), seq)
}

// hdrKey is the NATS header that carries a connection message's header,
// in hexadecimal.
const hdrKey = "Fp"

// parseConnMsg decodes a connection message as it arrives: hdr is the
// value of its hdrKey header, data its payload.
func parseConnMsg(hdr string, data []byte) (connMsg, error) {
	if len(hdr) != 2*connHeader {
		return connMsg{}, malformed("header %q", printable([]byte(hdr)))
	}
	var h [connHeader]byte
	if _, err := hex.Decode(h[:], []byte(hdr)); err != nil {
		return connMsg{}, malformed("header %q", printable([]byte(hdr)))
	}
	return parseConnParts(h[:], data)
}

// parseConn decodes a connection message written as its header then its
// data. The data of the result aliases b.
func parseConn(b []byte) (connMsg, error) {
	if len(b) < connHeader {
		return connMsg{}, malformed("%d bytes", len(b))
	}
	return parseConnParts(b[:connHeader], b[connHeader:])
}

// parseConnParts decodes a connection message from its header h
// (connHeader bytes) and its data b, which the result aliases.
func parseConnParts(h, b []byte) (connMsg, error) {
	m := connMsg{kind: h[0], seq: binary.BigEndian.Uint64(h[1:])}
	switch m.kind {
	case kindData:
		if len(b) == 0 {
			return connMsg{}, malformed("empty data")
		}
		m.data = b
	case kindCredit:
		if len(b) != 8 {
			return connMsg{}, malformed("credit of %d bytes", len(b))
		}
		m.credit = binary.BigEndian.Uint64(b)
	case kindFin:
		if len(b) != 0 {
			return connMsg{}, malformed("end of stream with %d bytes", len(b))
		}
	case kindClose:
		if len(b) > maxReason {
			return connMsg{}, malformed("close of %d bytes", len(b))
		}
		m.data = b
	default:
		return connMsg{}, malformed("kind %q", m.kind)
	}
	return m, nil
}
