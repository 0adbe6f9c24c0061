//go:build !linux

package transport

import "syscall"

// IdleFunc returns a function that reports whether a small write to conn
// surely returns at once; off Linux it cannot tell and returns nil.
func IdleFunc(conn syscall.Conn) func() bool { return nil }
