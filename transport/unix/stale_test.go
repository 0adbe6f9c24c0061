//go:build unix || windows

package unix_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/farpipe/farpipe/transport/unix"
)

// staleSocket leaves a socket file at path that nobody listens on, as a
// listener that crashed does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("ListenUnix: %v", err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

// ping dials path and fails the test if nobody accepts.
func ping(t *testing.T, path string) {
	t.Helper()
	c, err := unix.New().Dial(context.Background(), path)
	if err != nil {
		t.Fatalf("Dial(%q): %v", path, err)
	}
	c.Close()
}

// snapshot describes what is at a path, to check it was left untouched.
func snapshot(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		return "missing: " + err.Error()
	}
	s := fi.Mode().String()
	switch fi.Mode().Type() {
	case 0:
		b, _ := os.ReadFile(path)
		s += " " + string(b)
	case fs.ModeDir:
		ents, _ := os.ReadDir(path)
		for _, e := range ents {
			s += " " + e.Name()
		}
	case fs.ModeSymlink:
		dst, _ := os.Readlink(path)
		s += " -> " + dst + " (" + snapshot(t, dst) + ")"
	}
	return s
}

// TestListenOverExisting checks what Listen does with a file already at its
// path: a stale socket is replaced, a live one and anything that is not a
// socket are refused and left as they were.
func TestListenOverExisting(t *testing.T) {
	tests := []struct {
		name string
		// setup puts something at path; it may skip the test.
		setup func(t *testing.T, path string)
		// want is "" if Listen must succeed, or a part of its error.
		want string
		// is is an error the Listen error must wrap.
		is error
	}{
		{"Nothing", func(*testing.T, string) {}, "", nil},
		{"StaleSocket", staleSocket, "", nil},
		{"LiveSocket", func(t *testing.T, path string) { listen(t, path) },
			"another process listens on this socket: stop it or choose another path", syscall.EADDRINUSE},
		{"RegularFile", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "a regular file is in the way, not a socket; farpipe removes only stale sockets", fs.ErrExist},
		{"EmptyFile", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "a regular file is in the way", fs.ErrExist},
		{"Directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(path, "f"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "a directory is in the way", fs.ErrExist},
		{"EmptyDirectory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "a directory is in the way", fs.ErrExist},
		{"SymlinkToFile", func(t *testing.T, path string) {
			dst := path + ".target"
			if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			symlink(t, dst, path)
		}, "a symbolic link is in the way", fs.ErrExist},
		{"SymlinkToStaleSocket", func(t *testing.T, path string) {
			dst := path + ".target"
			staleSocket(t, dst)
			symlink(t, dst, path)
		}, "a symbolic link is in the way", fs.ErrExist},
		{"DanglingSymlink", func(t *testing.T, path string) {
			symlink(t, path+".nowhere", path)
		}, "a symbolic link is in the way", fs.ErrExist},
		{"FIFO", func(t *testing.T, path string) {
			if err := mkfifo(path); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}, "a named pipe (FIFO) is in the way", fs.ErrExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := sockPath(t)
			tc.setup(t, path)
			before := snapshot(t, path)
			ln, err := unix.New().Listen(context.Background(), path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Listen: %v", err)
				}
				defer ln.Close()
				done := make(chan error, 1)
				go func() {
					c, err := ln.Accept()
					if err == nil {
						c.Close()
					}
					done <- err
				}()
				ping(t, path)
				if err := <-done; err != nil {
					t.Fatalf("Accept: %v", err)
				}
				return
			}
			if err == nil {
				ln.Close()
				t.Fatalf("Listen succeeded; want an error containing %q", tc.want)
			}
			msg := err.Error()
			wantPrefix := "farpipe: unix://" + path + ": "
			if !strings.HasPrefix(msg, wantPrefix) || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("Listen error %q; want one line starting %q and containing %q", msg, wantPrefix, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("Listen error %q does not wrap %v", msg, tc.is)
			}
			if after := snapshot(t, path); after != before {
				t.Errorf("Listen changed what was at the path: before %q, after %q", before, after)
			}
			if tc.is == syscall.EADDRINUSE {
				ping(t, path) // the live listener still works
			}
		})
	}
}

// symlink makes a symbolic link or skips the test where that needs a
// privilege (Windows).
func symlink(t *testing.T, dst, path string) {
	t.Helper()
	if err := os.Symlink(dst, path); err != nil {
		t.Skipf("symlink: %v", err)
	}
}

// TestCloseRemovesSocket checks that closing a listener removes its socket
// file, and that a second Close fails without touching anything.
func TestCloseRemovesSocket(t *testing.T) {
	path := sockPath(t)
	ln := listen(t, path)
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Close, Lstat(%q) = %v; want not exist", path, err)
	}
	if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err == nil {
		t.Error("second Close returned no error")
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, []byte("new")) {
		t.Errorf("second Close touched the file at the path: %q, %v", b, err)
	}
}

// TestCloseKeepsReplacement checks that a listener whose socket file was
// deleted and replaced does not remove the replacement when it closes.
func TestCloseKeepsReplacement(t *testing.T) {
	tests := []struct {
		name    string
		replace func(t *testing.T, path string)
		check   func(t *testing.T, path string)
	}{
		{"BySocket", func(t *testing.T, path string) { listen(t, path) }, ping},
		{"ByFile", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, path string) {
			if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
				t.Errorf("replacement file now %q, %v; want \"new\"", b, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := sockPath(t)
			ln := listen(t, path)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			tc.replace(t, path)
			if err := ln.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			tc.check(t, path)
		})
	}
}

// TestStaleSocketRefuses checks the premise of the stale-socket rule: a
// dial to a socket nobody listens on is refused, and the error says so.
func TestStaleSocketRefuses(t *testing.T) {
	path := sockPath(t)
	staleSocket(t, path)
	_, err := unix.New().Dial(context.Background(), path)
	if err == nil || !strings.HasPrefix(err.Error(), "farpipe: ") {
		t.Fatalf("Dial to a stale socket: %v; want a farpipe: error", err)
	}
	if filepath.Separator == '/' && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to a stale socket: %v; want errors.Is ECONNREFUSED", err)
	}
}
