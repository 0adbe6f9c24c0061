//go:build !linux

package shm

import (
	"context"
	"errors"
	"net"
)

// needsLinux is the error of Dial and Listen on systems other than Linux.
// It wraps errors.ErrUnsupported.
type needsLinux struct{}

func (needsLinux) Error() string { return "farpipe: shm:// needs Linux" }
func (needsLinux) Unwrap() error { return errors.ErrUnsupported }

// Dial fails: shared-memory connections need Linux (memfd, futex,
// SCM_RIGHTS).
func (shmTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := validateName(addr); err != nil {
		return nil, err
	}
	return nil, needsLinux{}
}

// Listen fails: shared-memory connections need Linux.
func (shmTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	if err := validateName(addr); err != nil {
		return nil, err
	}
	return nil, needsLinux{}
}
