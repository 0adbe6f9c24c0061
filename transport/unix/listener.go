//go:build unix || windows

package unix

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// listener is a *net.UnixListener whose Close removes the socket file only
// if it is still the file this listener created.
type listener struct {
	*net.UnixListener
	path string
	made os.FileInfo // the socket file as created; nil: never remove
	once sync.Once
}

// newListener takes over the removal of the socket file from ln.
func newListener(ln *net.UnixListener, path string) *listener {
	ln.SetUnlinkOnClose(false) // net would unlink the path, whatever is there then
	l := &listener{UnixListener: ln, path: path}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		l.made = fi
	}
	return l
}

// Close removes the socket file if it is the one this listener created,
// then closes the listener. The file is removed before the socket is
// closed, as net.UnixListener does: while the file exists, a probe finds a
// live listener, so a farpipe Listen never mistakes it for a stale socket.
// A second Close returns an error and removes nothing.
func (l *listener) Close() error {
	l.once.Do(func() {
		if l.made == nil {
			return
		}
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.made) {
			os.Remove(l.path)
		}
	})
	return l.UnixListener.Close()
}

// Probing a socket found at the listen path.
const (
	staleProbes     = 3                     // refused dials before a socket counts as stale
	staleProbeGap   = 20 * time.Millisecond // pause between them
	staleProbeLimit = 2 * time.Second       // bound on one dial
)

// pathError is a one-line message with a cause for errors.Is.
type pathError struct {
	msg string
	err error
}

func (e *pathError) Error() string { return e.msg }
func (e *pathError) Unwrap() error { return e.err }

// clearStale makes path free for a new socket: nothing there, or a stale
// socket, which it removes. It fails for a live socket and for anything
// that is not a socket, which it leaves alone.
func clearStale(ctx context.Context, path string) error {
	url := Scheme + "://" + path
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("farpipe: %s: %w", url, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return &pathError{
			msg: fmt.Sprintf("farpipe: %s: %s is in the way, not a socket; farpipe removes only stale sockets: move it away or choose another path", url, kind(fi.Mode())),
			err: fs.ErrExist,
		}
	}
	live, err := probe(ctx, path)
	if err != nil {
		return fmt.Errorf("farpipe: %s: cannot tell whether a process listens on this socket: %w", url, err)
	}
	if live {
		return &pathError{
			msg: fmt.Sprintf("farpipe: %s: another process listens on this socket: stop it or choose another path", url),
			err: syscall.EADDRINUSE,
		}
	}
	// Remove the socket only if it is still the one probed.
	now, err := os.Lstat(path)
	if err != nil || !os.SameFile(fi, now) {
		return nil // gone or replaced: bind will tell
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("farpipe: %s: removing the stale socket: %w", url, err)
	}
	return nil
}

// probe dials the socket at path and reports whether a process accepts on
// it. Only a connection refused staleProbes times in a row means stale.
func probe(ctx context.Context, path string) (live bool, err error) {
	for i := range staleProbes {
		if i > 0 {
			t := time.NewTimer(staleProbeGap)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, ctx.Err()
			case <-t.C:
			}
		}
		d := net.Dialer{Timeout: staleProbeLimit}
		c, err := d.DialContext(ctx, "unix", path)
		switch {
		case err == nil:
			c.Close()
			return true, nil
		case isRefused(err):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return true, nil // Linux: a live listener with a full backlog
		case errors.Is(err, fs.ErrNotExist):
			return false, nil // removed meanwhile
		default:
			return false, err
		}
	}
	return false, nil
}

// kind names what a non-socket file is, for an error message.
func kind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symbolic link"
	case fs.ModeNamedPipe:
		return "a named pipe (FIFO)"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "a device"
	}
	return fmt.Sprintf("a file of mode %v", m)
}
