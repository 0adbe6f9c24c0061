package wire

import (
	"encoding/binary"
	"fmt"
)

// Magic opens every HELLO payload, so that a farpipe endpoint can tell a
// stray client (a browser, a port scanner, nc) from a farpipe peer at once.
const Magic = "farpipe\x00"

// Role says which side of the connection an endpoint is.
type Role uint8

// Roles.
const (
	RoleDialer   Role = 1
	RoleListener Role = 2
)

func (r Role) String() string {
	switch r {
	case RoleDialer:
		return "dialer"
	case RoleListener:
		return "listener"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Hello fields are encoded as tag (1 byte), length (2 bytes, big-endian),
// value. A receiver ignores tags it does not know below 0x80 and rejects
// unknown tags from 0x80 up ("critical"), so fields can be added without a
// new protocol version. A tag may appear at most once.
const (
	tagRole      = 0x01 // 1 byte
	tagSessionID = 0x02 // 16 bytes
	tagNonce     = 0x03 // 32 bytes
	tagWindow    = 0x04 // 4 bytes: receive window per channel, in bytes
	tagAuth      = 0x05 // 1..16 bytes: authentication methods offered, in order of preference
	tagResume    = 0x06 // 8*MaxChannels bytes: bytes received per channel (resume only)
	tagResumeKey = 0x07 // 32 bytes: proof of the session's resume secret
	tagGrace     = 0x08 // 4 bytes: seconds this side keeps a dropped session for resumption
	tagApp       = 0x09 // 1..MaxAppRole bytes: the application's role on this side ("send", "recv", ...)
	tagCompress  = 0x0a // 1..MaxCompress bytes: compressions (dialer: offered, in order of preference; listener: the one chosen)

	criticalTag = 0x80
)

// Sizes of the fixed-length fields.
const (
	SessionIDLen = 16
	NonceLen     = 32
	ResumeKeyLen = 32
	MaxAppRole   = 32 // longest application role, in bytes
	MaxCompress  = 8  // most compressions a hello may list
)

// Compression names a way of compressing the bytes of channel 0 above the
// session (the session itself carries them unchanged): the dialer offers
// the ones it can use, most wanted first, and the listener answers with
// the one both use. A peer that sends no offer (an older farpipe) gets
// none.
type Compression uint8

// Compressions.
const (
	CompressNone Compression = 0
	CompressZstd Compression = 1 // a Zstandard stream (RFC 8878)
)

func (c Compression) String() string {
	switch c {
	case CompressNone:
		return "none"
	case CompressZstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// AuthMethod names a way of proving knowledge of the shared secret.
type AuthMethod uint8

// Authentication methods.
const (
	// AuthNone proves nothing. It exists for tests and the bare session
	// layer; the farpipe API never offers it.
	AuthNone AuthMethod = 0
	// AuthToken: HMAC-SHA-256 keyed by a shared token over the role, the
	// TLS exporter value (if any) and both HELLOs. See package secure.
	AuthToken AuthMethod = 1
	// AuthCert: the peer's certificate was verified by mutual TLS.
	AuthCert AuthMethod = 2
)

// Hello is the first frame each side sends.
type Hello struct {
	Role      Role
	SessionID [SessionIDLen]byte
	Nonce     [NonceLen]byte
	Window    uint32       // bytes this side buffers per channel; 0 means unspecified
	Auth      []AuthMethod // methods offered, most preferred first; at least one

	// ResumeGrace is how many seconds this side keeps a session whose
	// connection dropped, waiting for it to be resumed; 0: it cannot resume.
	// A session is resumable when both sides offer it.
	ResumeGrace uint32

	// App is the application's role on this side ("send", "recv", "exec",
	// "connect", or a library's own name); empty: not declared. Peers check
	// it against the roles they accept, so that two senders (say) fail at
	// once instead of waiting for each other. A peer that does not know the
	// field ignores it.
	App string

	// Resume is set when the dialer asks to resume SessionID, or when the
	// listener accepts a resumption. Received then holds, per channel, the
	// number of bytes this side has received, so the peer resends from there.
	Resume    bool
	Received  [MaxChannels]uint64
	ResumeKey [ResumeKeyLen]byte // with Resume: proof of the session's secret

	// Compress is, from a dialer, the compressions it can use, the one it
	// wants first; from a listener, the one chosen (a single entry). Empty:
	// the field is absent (a peer that does not know it), which means none.
	// Values this side does not know are kept: the session ignores them.
	Compress []Compression
}

// MarshalBinary encodes h as a HELLO payload.
func (h *Hello) MarshalBinary() ([]byte, error) {
	if h.Role != RoleDialer && h.Role != RoleListener {
		return nil, fmt.Errorf("%w: hello with role %d", ErrMalformed, h.Role)
	}
	if len(h.Auth) == 0 || len(h.Auth) > 16 {
		return nil, fmt.Errorf("%w: hello offers %d auth methods, want 1-16", ErrMalformed, len(h.Auth))
	}
	b := make([]byte, 0, 256)
	b = append(b, Magic...)
	b = appendTLV(b, tagRole, []byte{byte(h.Role)})
	b = appendTLV(b, tagSessionID, h.SessionID[:])
	b = appendTLV(b, tagNonce, h.Nonce[:])
	b = appendTLV(b, tagWindow, binary.BigEndian.AppendUint32(nil, h.Window))
	auth := make([]byte, len(h.Auth))
	for i, m := range h.Auth {
		auth[i] = byte(m)
	}
	b = appendTLV(b, tagAuth, auth)
	if !validApp(h.App) {
		return nil, fmt.Errorf("%w: hello with application role %q", ErrMalformed, h.App)
	}
	if h.App != "" {
		b = appendTLV(b, tagApp, []byte(h.App))
	}
	if len(h.Compress) > MaxCompress {
		return nil, fmt.Errorf("%w: hello lists %d compressions, want at most %d", ErrMalformed, len(h.Compress), MaxCompress)
	}
	if len(h.Compress) > 0 {
		c := make([]byte, len(h.Compress))
		for i, m := range h.Compress {
			c[i] = byte(m)
		}
		b = appendTLV(b, tagCompress, c)
	}
	if h.ResumeGrace != 0 {
		b = appendTLV(b, tagGrace, binary.BigEndian.AppendUint32(nil, h.ResumeGrace))
	}
	if h.Resume {
		var r [8 * MaxChannels]byte
		for i, v := range h.Received {
			binary.BigEndian.PutUint64(r[8*i:], v)
		}
		b = appendTLV(b, tagResume, r[:])
		b = appendTLV(b, tagResumeKey, h.ResumeKey[:])
	}
	return b, nil
}

func appendTLV(b []byte, tag byte, v []byte) []byte {
	b = append(b, tag)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// UnmarshalBinary decodes a HELLO payload. It never keeps a reference to b.
func (h *Hello) UnmarshalBinary(b []byte) error {
	*h = Hello{}
	if len(b) < len(Magic) || string(b[:len(Magic)]) != Magic {
		return ErrNotFarpipe
	}
	b = b[len(Magic):]
	var seen [256]bool
	for len(b) > 0 {
		if len(b) < 3 {
			return fmt.Errorf("%w: truncated hello field", ErrMalformed)
		}
		tag, n := b[0], int(binary.BigEndian.Uint16(b[1:3]))
		if len(b)-3 < n {
			return fmt.Errorf("%w: hello field 0x%02x of %d bytes overruns the frame", ErrMalformed, tag, n)
		}
		v := b[3 : 3+n]
		b = b[3+n:]
		if seen[tag] {
			return fmt.Errorf("%w: hello field 0x%02x repeated", ErrMalformed, tag)
		}
		seen[tag] = true
		if err := h.setField(tag, v); err != nil {
			return err
		}
	}
	for _, tag := range []byte{tagRole, tagSessionID, tagNonce, tagAuth} {
		if !seen[tag] {
			return fmt.Errorf("%w: hello lacks field 0x%02x", ErrMalformed, tag)
		}
	}
	if seen[tagResume] != seen[tagResumeKey] {
		return fmt.Errorf("%w: hello has resume offsets without a resume key or the reverse", ErrMalformed)
	}
	return nil
}

func (h *Hello) setField(tag byte, v []byte) error {
	fixed := func(want int) error {
		if len(v) != want {
			return fmt.Errorf("%w: hello field 0x%02x is %d bytes, want %d", ErrMalformed, tag, len(v), want)
		}
		return nil
	}
	switch tag {
	case tagRole:
		if err := fixed(1); err != nil {
			return err
		}
		h.Role = Role(v[0])
		if h.Role != RoleDialer && h.Role != RoleListener {
			return fmt.Errorf("%w: hello with role %d", ErrMalformed, v[0])
		}
	case tagSessionID:
		if err := fixed(SessionIDLen); err != nil {
			return err
		}
		copy(h.SessionID[:], v)
	case tagNonce:
		if err := fixed(NonceLen); err != nil {
			return err
		}
		copy(h.Nonce[:], v)
	case tagWindow:
		if err := fixed(4); err != nil {
			return err
		}
		h.Window = binary.BigEndian.Uint32(v)
	case tagAuth:
		if len(v) == 0 || len(v) > 16 {
			return fmt.Errorf("%w: hello offers %d auth methods, want 1-16", ErrMalformed, len(v))
		}
		h.Auth = make([]AuthMethod, len(v))
		for i, m := range v {
			h.Auth[i] = AuthMethod(m)
		}
	case tagResume:
		if err := fixed(8 * MaxChannels); err != nil {
			return err
		}
		h.Resume = true
		for i := range h.Received {
			h.Received[i] = binary.BigEndian.Uint64(v[8*i:])
		}
	case tagGrace:
		if err := fixed(4); err != nil {
			return err
		}
		h.ResumeGrace = binary.BigEndian.Uint32(v)
	case tagResumeKey:
		if err := fixed(ResumeKeyLen); err != nil {
			return err
		}
		copy(h.ResumeKey[:], v)
	case tagApp:
		if len(v) == 0 || !validApp(string(v)) {
			return fmt.Errorf("%w: hello with application role %q", ErrMalformed, v)
		}
		h.App = string(v)
	case tagCompress:
		if len(v) == 0 || len(v) > MaxCompress {
			return fmt.Errorf("%w: hello lists %d compressions, want 1-%d", ErrMalformed, len(v), MaxCompress)
		}
		h.Compress = make([]Compression, len(v))
		for i, m := range v {
			h.Compress[i] = Compression(m)
		}
	default:
		if tag >= criticalTag {
			return fmt.Errorf("%w: hello has critical field 0x%02x this farpipe does not know: upgrade it", ErrMalformed, tag)
		}
	}
	return nil
}

// validApp reports whether s can be an application role: at most
// MaxAppRole printable ASCII characters (empty: none).
func validApp(s string) bool {
	if len(s) > MaxAppRole {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
