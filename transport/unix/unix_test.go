//go:build unix || windows

package unix_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/transporttest"
	"github.com/farpipe/farpipe/transport/unix"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sockLimit is the longest socket path on every supported system (macOS
// and the BSDs: 103 bytes).
const sockLimit = 103

// sockPath returns a fresh socket path in a temporary directory removed at
// the end of the test. t.TempDir can be too long for sun_path (macOS puts
// $TMPDIR deep under /var/folders, and the directory is named after the
// test); then a short directory from os.MkdirTemp is used instead.
func sockPath(t testing.TB) string {
	t.Helper()
	if p := filepath.Join(t.TempDir(), "s.sock"); len(p) <= sockLimit {
		return p
	}
	dir, err := os.MkdirTemp("", "fp")
	if err != nil {
		t.Fatalf("MkdirTemp: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		Scheme:     unix.Scheme,
		ListenAddr: func(t *testing.T) string { return sockPath(t) },
	})
}

// listen listens on path through unix.New, closing the listener at the end
// of the test.
func listen(t *testing.T, path string) net.Listener {
	t.Helper()
	ln, err := unix.New().Listen(context.Background(), path)
	if err != nil {
		t.Fatalf("Listen(%q): %v", path, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// pair returns a dialed and an accepted connection, closed at the end of
// the test.
func pair(t *testing.T) (d, a net.Conn, ln net.Listener) {
	t.Helper()
	ln = listen(t, sockPath(t))
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := unix.New().Dial(context.Background(), ln.Addr().String())
	if err != nil {
		ln.Close()
		<-accepted
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	a = <-accepted
	if a == nil {
		t.Fatal("Accept failed")
	}
	t.Cleanup(func() { a.Close() })
	return d, a, ln
}

// TestConcreteTypes checks that connections are returned unwrapped, so
// callers keep CloseWrite and net.Buffers' writev, and that the listener
// keeps the methods of *net.UnixListener.
func TestConcreteTypes(t *testing.T) {
	d, a, ln := pair(t)
	if _, ok := d.(*net.UnixConn); !ok {
		t.Errorf("Dial returned %T, want *net.UnixConn", d)
	}
	if _, ok := a.(*net.UnixConn); !ok {
		t.Errorf("Accept returned %T, want *net.UnixConn", a)
	}
	if _, ok := ln.(interface {
		AcceptUnix() (*net.UnixConn, error)
	}); !ok {
		t.Errorf("listener %T has no AcceptUnix", ln)
	}
}

func TestRegistered(t *testing.T) {
	if _, ok := transport.Lookup(unix.Scheme); !ok {
		t.Fatalf("scheme %q is not registered", unix.Scheme)
	}
}

func TestParse(t *testing.T) {
	abs := filepath.Join(os.TempDir(), "x.sock")
	for _, tc := range []struct{ raw, addr string }{
		{"unix://" + abs, abs},
		{"UNIX://" + abs, abs},
		{"unix://" + filepath.Join(os.TempDir(), "a socket"), filepath.Join(os.TempDir(), "a socket")},
	} {
		scheme, addr, err := transport.Parse(tc.raw)
		if err != nil || scheme != unix.Scheme || addr != tc.addr {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q, nil", tc.raw, scheme, addr, err, unix.Scheme, tc.addr)
		}
	}
}

// TestBadAddress checks the validation errors through transport.Parse and
// through Dial and Listen: one line, "farpipe: " first, wrapping
// ErrBadAddress, saying what to write.
func TestBadAddress(t *testing.T) {
	dir := t.TempDir()
	long := string(filepath.Separator) + strings.Repeat("d", 200) + ".sock"
	tests := []struct {
		name, addr, want string
	}{
		{"Empty", "", "empty Unix socket path: write unix:// and an absolute path"},
		{"Relative", "tmp/x.sock", `"tmp/x.sock" is relative: write unix:// and an absolute path`},
		{"Dot", "./x.sock", `"./x.sock" is relative`},
		{"Abstract", "@farpipe", "abstract sockets (@name) are not supported"},
		{"NUL", filepath.Join(dir, "a\x00b"), "contains a NUL byte"},
		{"TooLong", long, "bytes, longer than the"},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				switch {
				case err == nil:
					t.Errorf("%s(%q) succeeded", what, tc.addr)
				case !errors.Is(err, transport.ErrBadAddress):
					t.Errorf("%s(%q) error %q does not wrap ErrBadAddress", what, tc.addr, err)
				case !strings.HasPrefix(err.Error(), "farpipe: ") || strings.ContainsAny(err.Error(), "\n"):
					t.Errorf("%s(%q) error %q is not one line starting with \"farpipe: \"", what, tc.addr, err)
				case !strings.Contains(err.Error(), tc.want):
					t.Errorf("%s(%q) error %q does not contain %q", what, tc.addr, err, tc.want)
				}
			}
			_, _, err := transport.Parse("unix://" + tc.addr)
			check("Parse", err)
			c, err := unix.New().Dial(ctx, tc.addr)
			if c != nil {
				c.Close()
			}
			check("Dial", err)
			ln, err := unix.New().Listen(ctx, tc.addr)
			if ln != nil {
				ln.Close()
			}
			check("Listen", err)
		})
	}
}

// TestTwoSlashesHint checks that unix://tmp/x.sock, written with two
// slashes instead of three, suggests the path that was meant.
func TestTwoSlashesHint(t *testing.T) {
	if filepath.Separator != '/' {
		t.Skip("Unix path syntax")
	}
	_, _, err := transport.Parse("unix://tmp/x.sock")
	const want = `farpipe: Unix socket path "tmp/x.sock" is relative: write unix:// and an absolute path, for example unix:///tmp/x.sock (three slashes)`
	if err == nil || err.Error() != want {
		t.Errorf("Parse(\"unix://tmp/x.sock\") error %v; want %s", err, want)
	}
}

// TestPathLimit checks that the length limit is the system's: a path of
// exactly the longest accepted length can be listened on and dialled, one
// byte more is refused before any system call.
func TestPathLimit(t *testing.T) {
	dir, err := os.MkdirTemp("", "fp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// name returns a path of n bytes in dir.
	name := func(n int) string {
		return filepath.Join(dir, strings.Repeat("x", n-len(dir)-1))
	}
	v := unix.New().(transport.AddrValidator)
	longest := len(dir) + 2
	for v.ValidateAddr(name(longest+1)) == nil {
		longest++
	}
	if longest < 100 {
		t.Fatalf("longest accepted socket path is %d bytes; want at least 100", longest)
	}
	p := name(longest)
	if len(p) != longest {
		t.Fatalf("built a path of %d bytes, want %d", len(p), longest)
	}
	ln := listen(t, p)
	c, err := unix.New().Dial(context.Background(), p)
	if err != nil {
		t.Fatalf("Dial(%d-byte path): %v", len(p), err)
	}
	c.Close()
	ln.Close()
	// One byte more is refused by the system too, so the limit is not
	// stricter than it.
	if ln, err := net.Listen("unix", name(longest+1)); err == nil {
		ln.Close()
		t.Errorf("the system accepts a %d-byte socket path; ValidateAddr refuses it", longest+1)
	}
	t.Logf("longest socket path: %d bytes", longest)
}

// TestDialNoFile checks that dialling a path where no socket is fails with
// an error that wraps the cause.
func TestDialNoFile(t *testing.T) {
	_, err := unix.New().Dial(context.Background(), sockPath(t))
	var op *net.OpError
	if !errors.As(err, &op) || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "farpipe: dial unix ") {
		t.Errorf("Dial to a missing socket: error %v (%T); want \"farpipe: dial unix ...\" wrapping *net.OpError and ErrNotExist", err, err)
	}
}
