//go:build unix

package unix

import (
	"errors"
	"syscall"
)

// examplePath is the socket path shown in error messages.
const examplePath = "/tmp/farpipe.sock"

// isRefused reports whether err is a refused connection.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
