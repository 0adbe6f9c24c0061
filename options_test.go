package farpipe_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/session"
	"github.com/farpipe/farpipe/wire"
)

// optionPair listens on addr with lopts, dials its URL with dopts and
// returns both ends; dial is the Dial error, if any. Everything is closed
// at the end of the test.
func optionPair(t *testing.T, addr string, lopts, dopts []farpipe.Option) (d, a *farpipe.Conn, logged <-chan error, dial error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	errs := make(chan error, 16)
	lopts = append(lopts, farpipe.WithErrorLog(func(err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	ln, err := farpipe.Listen(ctx, addr, lopts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan *farpipe.Conn, 1)
	actx, stop := context.WithCancel(ctx)
	go func() {
		c, _ := ln.Accept(actx)
		accepted <- c
	}()
	d, dial = farpipe.Dial(ctx, ln.URL(), dopts...)
	if dial == nil {
		select {
		case a = <-accepted:
		case <-d.Done(): // the listener refused it
		}
	}
	stop()
	if a == nil {
		a = <-accepted
	}
	for _, c := range []*farpipe.Conn{d, a} {
		if c != nil {
			t.Cleanup(func() { c.Abort("test over"); <-c.Done() })
		}
	}
	return d, a, errs, dial
}

// TestWithFrameSize: no DATA frame the dialer sends is larger than its
// frame size, as seen on the wire (unencrypted, so the headers show).
func TestWithFrameSize(t *testing.T) {
	const frame = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0", farpipe.WithNoEncrypt())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rec := newCaptureRecorder(t, ln.Addr().String(), 0)
	url := strings.Replace(ln.URL(), ln.Addr().String(), rec.Addr(), 1)
	accepted := make(chan *farpipe.Conn, 1)
	go func() {
		c, _ := ln.Accept(ctx)
		accepted <- c
	}()
	d, err := farpipe.Dial(ctx, url, farpipe.WithNoEncrypt(), farpipe.WithFrameSize(frame))
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("no connection accepted")
	}
	data := bytes.Repeat([]byte("farpipe "), 32<<10) // 256 KiB
	go func() {
		d.Write(data)
		d.CloseWrite()
	}()
	got, err := io.ReadAll(a)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	d.Close()
	a.Close()
	<-d.Done()
	<-a.Done()
	rec.Close()
	toLn, _ := rec.captured()
	frames, largest := 0, 0
	for i := 0; len(toLn) >= wire.HeaderLen; i++ {
		h, err := wire.ParseHeader(toLn[:wire.HeaderLen])
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		size := wire.HeaderLen + int(h.Length)
		if i >= 2 { // after HELLO and AUTH, every frame has a tag
			size += session.TagLen
		}
		if len(toLn) < size {
			break
		}
		if h.Type == wire.TypeData {
			frames++
			largest = max(largest, int(h.Length))
		}
		toLn = toLn[size:]
	}
	if frames == 0 || largest > frame {
		t.Fatalf("%d DATA frames, the largest %d bytes; want none over %d", frames, largest, frame)
	}
}

// TestWithLinger: a Conn closed with bytes its peer never reads gives up
// after the linger time (the default is a minute).
func TestWithLinger(t *testing.T) {
	d, a, _, err := optionPair(t, "127.0.0.1:0", nil, []farpipe.Option{farpipe.WithLinger(100 * time.Millisecond)})
	if err != nil || a == nil {
		t.Fatalf("dial: %v", err)
	}
	if _, err := d.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	d.Close() // a never reads: nothing is ever confirmed
	select {
	case <-d.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the closed Conn still lingers after 20 s; WithLinger(100ms) was ignored")
	}
}

// TestWithMaxHandshakes: with room for one handshake, a second connection
// drops the first, which stalls in its handshake; by default both would
// wait for the handshake timeout.
func TestWithMaxHandshakes(t *testing.T) {
	ln, err := farpipe.Listen(context.Background(), "127.0.0.1:0",
		farpipe.WithMaxHandshakes(1), farpipe.WithHandshakeTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	first.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := first.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the first stalled handshake was not dropped for the second; WithMaxHandshakes(1) was ignored")
	}
}

// TestWithRole: roles that do not go together fail on both sides with
// ErrRole before any byte moves, whichever side finds it; a peer without a
// role is accepted.
func TestWithRole(t *testing.T) {
	for _, tt := range []struct {
		name         string
		lrole, drole []string // role, then accepted peers
		ok           bool
	}{
		{"matching", []string{"send", "recv"}, []string{"recv", "send"}, true},
		{"dialer without role", []string{"send", "recv"}, nil, true},
		{"listener without role", nil, []string{"recv", "send"}, true},
		{"dialer finds it", []string{"send", "recv"}, []string{"send", "recv"}, false},
		{"listener finds it", []string{"send", "recv"}, []string{"odd"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := func(r []string) []farpipe.Option {
				if r == nil {
					return nil
				}
				return []farpipe.Option{farpipe.WithRole(r[0], r[1:]...)}
			}
			d, a, logged, err := optionPair(t, "127.0.0.1:0", opts(tt.lrole), opts(tt.drole))
			if tt.ok {
				if err != nil || a == nil {
					t.Fatalf("dial: %v, accepted %v", err, a != nil)
				}
				return
			}
			if a != nil {
				t.Fatal("the listener accepted a peer whose role does not go with its own")
			}
			if err == nil { // the listener found it: the dialer learns it at once
				_, err = d.Read(make([]byte, 1))
			}
			if !errors.Is(err, farpipe.ErrRole) {
				t.Errorf("dialer: %v, want ErrRole", err)
			}
			var logErr error
			select {
			case logErr = <-logged:
			case <-time.After(20 * time.Second):
			}
			var re *farpipe.RoleError
			if !errors.As(logErr, &re) || re.Role != "send" {
				t.Errorf("listener: %v, want a *RoleError", logErr)
			}
		})
	}
	if _, err := farpipe.Listen(context.Background(), "127.0.0.1:0", farpipe.WithRole("has space")); err == nil {
		t.Error("WithRole accepted a role with a space")
	}
}

// TestLocalURL: a unix:// or shm:// listener's URL carries its token and
// is dialable as is.
func TestLocalURL(t *testing.T) {
	addrs := []string{"unix://" + filepath.Join(t.TempDir(), "s")}
	if runtime.GOOS == "linux" {
		addrs = append(addrs, fmt.Sprintf("shm://farpipe-url-%d", os.Getpid()))
	}
	for _, addr := range addrs {
		ln, err := farpipe.Listen(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		if want := addr + "#" + ln.Token(); ln.URL() != want {
			t.Errorf("URL() = %q, want %q", ln.URL(), want)
		}
		ln.Close()
		d, a, _, err := optionPair(t, addr, nil, nil)
		if err != nil || a == nil {
			t.Fatalf("%s: Dial(URL): %v", addr, err)
		}
		go func() { d.Write([]byte("hi")); d.CloseWrite() }()
		if b, err := io.ReadAll(a); err != nil || string(b) != "hi" {
			t.Errorf("%s: read %q, %v", addr, b, err)
		}
	}
}

// TestLibraryErrorsSpeakGo: errors of the Go API name no command-line
// flag and no environment variable.
func TestLibraryErrorsSpeakGo(t *testing.T) {
	ctx := context.Background()
	var errs []error
	_, err := farpipe.Dial(ctx, "127.0.0.1:1")
	if !errors.Is(err, farpipe.ErrNoToken) {
		t.Errorf("Dial without a token: %v, want ErrNoToken", err)
	}
	errs = append(errs, err)
	_, err = farpipe.Dial(ctx, "127.0.0.1:1", farpipe.WithCertificates("/nonexistent/c", "/nonexistent/k", "/nonexistent/ca"))
	errs = append(errs, err)
	_, err = farpipe.Dial(ctx, "127.0.0.1:1", farpipe.WithCertificates("/nonexistent/c", "", ""))
	errs = append(errs, err)
	_, err = farpipe.Dial(ctx, "127.0.0.1:1", farpipe.WithNoEncrypt(), farpipe.WithCertificates("/nonexistent/c", "/nonexistent/k", "/nonexistent/ca"))
	errs = append(errs, err)
	_, err = farpipe.Dial(ctx, "fp://127.0.0.1:1/#short")
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Error("no error")
			continue
		}
		if s := err.Error(); strings.Contains(s, "--") || strings.Contains(s, "FARPIPE_") || !strings.HasPrefix(s, "farpipe: ") {
			t.Errorf("%q speaks of the command line", s)
		}
	}
}
