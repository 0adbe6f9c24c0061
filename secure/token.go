package secure

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
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
var ErrNoToken = errors.New("farpipe: no token: set FARPIPE_TOKEN, give --token-file, or use the fp:// address the listening side printed")

// NewToken returns a fresh random token in its text form (43 characters of
// unpadded base64url), which is what addresses, files and FARPIPE_TOKEN hold.
func NewToken() string {
	b := make([]byte, TokenLen)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CheckToken validates a token's text form. Any text of at least
// MinTokenLen bytes without spaces is accepted, so users may choose their
// own; a generated one is always better.
func CheckToken(tok string) error {
	switch {
	case len(tok) < MinTokenLen:
		return fmt.Errorf("farpipe: the token is %d characters long, it needs at least %d: generate one with `head -c 32 /dev/urandom | base64`", len(tok), MinTokenLen)
	case strings.ContainsAny(tok, " \t\r\n"):
		return fmt.Errorf("farpipe: the token contains white space")
	}
	return nil
}

// ReadTokenFile reads a token from a file, ignoring surrounding white space.
// The file should be readable by its owner only.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("farpipe: reading the token file: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if err := CheckToken(tok); err != nil {
		return "", fmt.Errorf("%v (in %s)", err, path)
	}
	return tok, nil
}
