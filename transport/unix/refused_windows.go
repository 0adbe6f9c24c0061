//go:build windows

package unix

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// examplePath is the socket path shown in error messages.
const examplePath = `C:\ProgramData\farpipe.sock`

// isRefused reports whether err is a refused connection. Winsock reports
// WSAECONNREFUSED, which is not syscall.ECONNREFUSED on Windows.
func isRefused(err error) bool {
	return errors.Is(err, windows.WSAECONNREFUSED) || errors.Is(err, syscall.ECONNREFUSED)
}
