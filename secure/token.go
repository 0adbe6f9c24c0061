package secure

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// TokenLen is the size in bytes of a generated token (256 bits).
const TokenLen = 32

// MinTokenLen is the shortest token accepted, in bytes.
const MinTokenLen = 16

// EnvToken is the environment variable a token may come from.
const EnvToken = "FARPIPE_TOKEN"

// ErrNoToken means no token was given where one is needed.
var ErrNoToken = errors.New("farpipe: no token: both sides need the same token (or certificates), and none was given")

// NewToken returns a fresh random token in its text form (43 characters of
// unpadded base64url), which is what addresses, files and FARPIPE_TOKEN hold.
func NewToken() string {
	b := make([]byte, TokenLen)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ErrBadToken matches the errors of CheckToken: a token too short or with
// white space in it.
var ErrBadToken = errors.New("farpipe: bad token")

type tokenError struct{ msg string }

func (e *tokenError) Error() string { return e.msg }
func (e *tokenError) Unwrap() error { return ErrBadToken }

// CheckToken validates a token's text form. Any text of at least
// MinTokenLen bytes without spaces is accepted, so users may choose their
// own; a generated one is always better.
func CheckToken(tok string) error {
	switch {
	case len(tok) < MinTokenLen:
		return &tokenError{fmt.Sprintf("farpipe: the token is %d characters long, it needs at least %d: generate one with `head -c 32 /dev/urandom | base64`", len(tok), MinTokenLen)}
	case strings.ContainsAny(tok, " \t\r\n"):
		return &tokenError{"farpipe: the token contains white space"}
	}
	return nil
}

// MaxTokenFile is the largest token file ReadTokenFile reads, in bytes.
const MaxTokenFile = 4 << 10

// ReadTokenFile reads a token from a file, ignoring surrounding white space.
// The file should be readable by its owner only. It reads at most
// MaxTokenFile bytes, and refuses a larger file (or /dev/zero).
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("farpipe: reading the token file: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTokenFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("farpipe: reading the token file %s: %v", path, err)
	case len(b) > MaxTokenFile:
		return "", fmt.Errorf("farpipe: the token file %s holds more than %d bytes: a token is one line of 16 to a few hundred characters", path, MaxTokenFile)
	}
	tok := strings.TrimSpace(string(b))
	if err := CheckToken(tok); err != nil {
		return "", fmt.Errorf("%w (in %s)", err, path)
	}
	return tok, nil
}
