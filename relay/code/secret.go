package code

import (
	"crypto/hkdf"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/farpipe/farpipe/secure"
)

// A Secret is what a completed exchange gives both sides, the same on each.
type Secret struct {
	// Token is the session's token, in the text form of secure.NewToken
	// (43 characters of unpadded base64url, 256 bits); it passes
	// secure.CheckToken.
	Token string
	// Name is the pipe's name on the relay: 32 hex characters, public (it
	// appears in subjects), unrelated to Token except through the key.
	Name string
}

// derive computes the Secret from the CPace key with HKDF-SHA-512, salted
// with the session id, one info string per output.
func derive(key, sid []byte) (Secret, error) {
	tok, err := hkdf.Key(sha512.New, key, sid, "farpipe code v1 token", secure.TokenLen)
	if err != nil {
		return Secret{}, err
	}
	name, err := hkdf.Key(sha512.New, key, sid, "farpipe code v1 pipe name", 16)
	if err != nil {
		return Secret{}, err
	}
	return Secret{Token: base64.RawURLEncoding.EncodeToString(tok), Name: hex.EncodeToString(name)}, nil
}

// subjectPrefix is where codes meet on the relay.
const subjectPrefix = "farpipe.code."

// subject is the rendezvous subject of number n: farpipe.code.N.
func subject(n int) string { return subjectPrefix + strconv.Itoa(n) }

// sessionSubject is an offer's own subject: farpipe.code.N.<offer id>.
func sessionSubject(n int, offerID [idLen]byte) string {
	return subject(n) + "." + hex.EncodeToString(offerID[:])
}

// sessionInputs are CPace's CI and sid for one exchange. CI binds the
// protocol version, the rendezvous subject and the offer's session subject
// (length-prefixed, so prefix-free); sid is the offer id and the joiner's
// nonce, both fresh random values.
func sessionInputs(n int, offerID, joiner [idLen]byte) (ci, sid []byte) {
	for _, part := range []string{"farpipe code v1", subject(n), sessionSubject(n, offerID)} {
		ci = append(ci, byte(len(part)))
		ci = append(ci, part...)
	}
	sid = append(append(sid, offerID[:]...), joiner[:]...)
	return ci, sid
}

// Option changes a default of Offer or Join.
type Option func(*config)

type config struct {
	step    time.Duration
	numbers int // numbers tried first: 1..numbers; the range grows tenfold every 4 taken
}

// DefaultStepTimeout is how long either side waits for the other's next
// message once the exchange has begun.
const DefaultStepTimeout = 10 * time.Second

// WithStepTimeout sets how long either side waits for the other's next
// message once the exchange has begun (default DefaultStepTimeout). An
// offer whose joiner sent its first PAKE message but no confirmation in
// that time fails with ErrWrongCode: its one guess was used.
func WithStepTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.step = d
		}
	}
}

// withNumbers makes Offer try numbers 1..n first (tests crowd a small range).
func withNumbers(n int) Option {
	return func(c *config) { c.numbers = n }
}

func newConfig(opts []Option) config {
	c := config{step: DefaultStepTimeout, numbers: 999}
	for _, o := range opts {
		o(&c)
	}
	return c
}
