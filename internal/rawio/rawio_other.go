//go:build !linux

package rawio

import (
	"errors"
	"net"
	"syscall"
)

// A File is unsupported on this system: New always fails.
type File struct{}

// New fails on this system: callers use the descriptor's own methods.
func New(c syscall.Conn) (*File, error) { return nil, errors.ErrUnsupported }

func (f *File) Read(p []byte) (int, error)           { return 0, errors.ErrUnsupported }
func (f *File) Write(p []byte) (int, error)          { return 0, errors.ErrUnsupported }
func (f *File) Writev(v *net.Buffers) (int64, error) { return 0, errors.ErrUnsupported }

// Supported reports whether this system has raw calls (Linux).
const Supported = false
