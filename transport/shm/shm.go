package shm

import (
	"fmt"

	"github.com/farpipe/farpipe/transport"
)

// Scheme is the scheme under which this transport registers itself.
const Scheme = "shm"

// DefaultRingSize is the size of each of the two rings of a connection,
// one per direction: how many bytes a writer can get ahead of its reader.
const DefaultRingSize = 4 << 20

// maxNameLen bounds NAME so that "@farpipe-shm-NAME" fits in sun_path.
const maxNameLen = 64

func init() {
	transport.Register(Scheme, New())
}

// shmTransport is the shared-memory transport. It has no state.
type shmTransport struct{}

// New returns the shm transport, for use without the registry.
func New() transport.Transport {
	return shmTransport{}
}

// Local reports that shared-memory connections never leave the host.
func (shmTransport) Local() bool { return true }

// ValidateAddr checks that addr is a valid NAME: 1 to 64 letters, digits,
// '.', '_' or '-'.
func (shmTransport) ValidateAddr(addr string) error {
	return validateName(addr)
}

// Addr is the address of a shm listener or connection: the NAME of
// shm://NAME. Both ends of a connection have the same Addr.
type Addr struct {
	Name string
}

// Network returns "shm".
func (Addr) Network() string { return Scheme }

// String returns the NAME, which Dial accepts as it is.
func (a Addr) String() string { return a.Name }

// nameError is a bad NAME: its message says what to write, and it wraps
// transport.ErrBadAddress.
type nameError struct{ msg string }

func (e *nameError) Error() string { return e.msg }
func (e *nameError) Unwrap() error { return transport.ErrBadAddress }

// validateName checks a NAME without touching the system.
func validateName(name string) error {
	const how = "write shm://NAME with 1 to 64 letters, digits, '.', '_' or '-', for example shm://mypipe"
	if name == "" {
		return &nameError{"farpipe: empty shm name: " + how}
	}
	if len(name) > maxNameLen {
		return &nameError{fmt.Sprintf("farpipe: shm name %q is longer than %d bytes: %s", name, maxNameLen, how)}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return &nameError{fmt.Sprintf("farpipe: shm name %q contains %q: %s", name, c, how)}
		}
	}
	return nil
}
