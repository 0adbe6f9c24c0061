//go:build unix || windows

package unix

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/farpipe/farpipe/transport"
)

// maxPathLen is the longest socket path, in bytes, that fits in sun_path
// with its terminating NUL: 107 on Linux and Windows, 103 on macOS and the
// BSDs.
var maxPathLen = len(syscall.RawSockaddrUnix{}.Path) - 1

// addrError is a one-line message that wraps transport.ErrBadAddress.
type addrError struct{ msg string }

func (e *addrError) Error() string { return e.msg }
func (e *addrError) Unwrap() error { return transport.ErrBadAddress }

func badAddress(format string, args ...any) error {
	return &addrError{msg: fmt.Sprintf(format, args...)}
}

// validatePath checks, without touching the file system, that path can name
// a Unix socket: absolute, no NUL byte, short enough for sun_path.
func validatePath(path string) error {
	switch {
	case path == "":
		return badAddress("farpipe: empty Unix socket path: write unix:// and an absolute path, for example unix://%s", examplePath)
	case strings.HasPrefix(path, "@"):
		return badAddress("farpipe: Unix socket %q: abstract sockets (@name) are not supported: write unix:// and an absolute path, for example unix://%s", path, examplePath)
	case strings.IndexByte(path, 0) >= 0:
		return badAddress("farpipe: Unix socket path %q contains a NUL byte: write unix:// and an absolute path, for example unix://%s", path, examplePath)
	case !filepath.IsAbs(path):
		return badAddress("farpipe: Unix socket path %q is relative: write unix:// and an absolute path, for example unix://%s (three slashes)", path, absExample(path))
	case len(path) > maxPathLen:
		return badAddress("farpipe: Unix socket path %q is %d bytes, longer than the %d this system allows: choose a shorter path, for example unix://%s", path, len(path), maxPathLen, examplePath)
	}
	return nil
}

// absExample suggests an absolute path for the relative path p: on Unix,
// "tmp/x.sock" was most likely meant as "/tmp/x.sock" (two slashes written
// instead of three).
func absExample(p string) string {
	c := filepath.Clean(p)
	if filepath.Separator != '/' || c == "." || strings.HasPrefix(c, "..") || len("/"+c) > maxPathLen {
		return examplePath
	}
	return "/" + c
}
