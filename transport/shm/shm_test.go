//go:build linux

package shm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/farpipe/farpipe/internal/testflags"
	"github.com/farpipe/farpipe/transport"
	"github.com/farpipe/farpipe/transport/shm"
	"github.com/farpipe/farpipe/transport/transporttest"
)

// helperEnv, when set to "MODE NAME", makes the test binary a crash-test
// peer instead of running tests; see runHelper.
const helperEnv = "FARPIPE_SHM_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h))
	}
	testflags.NoRaceExitSleep()
	goleak.VerifyTestMain(m)
}

var nameSeq atomic.Uint64

// freshName returns a NAME no other test of any run uses.
func freshName(*testing.T) string {
	return fmt.Sprintf("test-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), nameSeq.Add(1))
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		Scheme:     shm.Scheme,
		ListenAddr: freshName,
	})
}

// pair returns a dialed and an accepted connection, closed at the end of
// the test.
func pair(t *testing.T) (d, a net.Conn) {
	t.Helper()
	tr := shm.New()
	ln, err := tr.Listen(context.Background(), freshName(t))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err = tr.Dial(context.Background(), ln.Addr().String())
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
	return d, a
}

func TestRegistered(t *testing.T) {
	if _, ok := transport.Lookup(shm.Scheme); !ok {
		t.Fatalf("scheme %q is not registered", shm.Scheme)
	}
}

func TestBadName(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"", "a b", "a/b", "@x", "x\x00y", string(bytes.Repeat([]byte("n"), 65))} {
		if _, _, err := transport.Parse("shm://" + name); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Parse(shm://%q) error %v; want ErrBadAddress", name, err)
		}
		if _, err := shm.New().Dial(ctx, name); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Dial(%q) error %v; want ErrBadAddress", name, err)
		}
		if _, err := shm.New().Listen(ctx, name); !errors.Is(err, transport.ErrBadAddress) {
			t.Errorf("Listen(%q) error %v; want ErrBadAddress", name, err)
		}
	}
}

// TestConcreteTypes checks that callers get *shm.Conn, with CloseWrite,
// and addresses of network "shm".
func TestConcreteTypes(t *testing.T) {
	d, a := pair(t)
	for _, c := range []net.Conn{d, a} {
		if _, ok := c.(*shm.Conn); !ok {
			t.Errorf("got %T, want *shm.Conn", c)
		}
		if n := c.LocalAddr().Network(); n != "shm" {
			t.Errorf("LocalAddr().Network() = %q, want shm", n)
		}
		if n := c.RemoteAddr().Network(); n != "shm" {
			t.Errorf("RemoteAddr().Network() = %q, want shm", n)
		}
	}
}

func TestDialRefusedIs(t *testing.T) {
	_, err := shm.New().Dial(context.Background(), freshName(t))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial with no listener: error %v; want errors.Is ECONNREFUSED", err)
	}
}

// TestPeerCloseIsEPIPE checks that a writer learns at once that the reader
// closed, even with room in the ring.
func TestPeerCloseIsEPIPE(t *testing.T) {
	d, a := pair(t)
	a.Close()
	if _, err := d.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Write after the peer's Close: %v; want EPIPE", err)
	}
	if _, err := d.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read after the peer's Close: %v; want io.EOF", err)
	}
}

// ringFull waits until c's ring is full: a Write on it then blocks.
func ringFull(t *testing.T, c *shm.Conn) {
	t.Helper()
	limit := time.Now().Add(30 * time.Second)
	for shm.Unread(c) < shm.DefaultRingSize {
		if time.Now().After(limit) {
			t.Fatalf("the ring holds %d bytes after 30 s, want %d", shm.Unread(c), shm.DefaultRingSize)
		}
		time.Sleep(time.Millisecond) // no event to wait on: the ring is shared memory
	}
}

// TestBlockedWriteSeesPeerClose checks that a Write blocked on a full ring
// fails with EPIPE when the reader closes.
func TestBlockedWriteSeesPeerClose(t *testing.T) {
	d, a := pair(t)
	werr := make(chan error, 1)
	go func() {
		_, err := d.Write(make([]byte, 2*shm.DefaultRingSize))
		werr <- err
	}()
	ringFull(t, d.(*shm.Conn))
	a.Close()
	select {
	case err := <-werr:
		if !errors.Is(err, syscall.EPIPE) {
			t.Errorf("blocked Write after the peer's Close: %v; want EPIPE", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Write still blocked 2s after the peer's Close")
	}
}

// TestIdleDoesNotSpin checks that a Read waiting for data sleeps instead
// of burning a core.
func TestIdleDoesNotSpin(t *testing.T) {
	d, a := pair(t)
	rerr := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		rerr <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read go to sleep
	before := cpuTime(t)
	const idle = 300 * time.Millisecond
	time.Sleep(idle)
	used := cpuTime(t) - before
	d.Write([]byte("x"))
	if err := <-rerr; err != nil {
		t.Fatalf("Read: %v", err)
	}
	if used > idle/5 {
		t.Errorf("the process used %v of CPU in %v while a Read waited; want it asleep", used, idle)
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHostileDialer sends the listener things that are not a valid
// handshake: Accept must drop them, close what they sent, and go on to the
// next dialer.
func TestHostileDialer(t *testing.T) {
	tr := shm.New()
	name := freshName(t)
	ln, err := tr.Listen(context.Background(), name)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	fdsBefore := openFds(t)

	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
		closers = nil
	}
	defer closeAll()
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	memfd, err := os.CreateTemp(t.TempDir(), "notmemfd")
	if err != nil {
		t.Fatal(err)
	}
	closers = append(closers, pipeR, pipeW, memfd)
	sealed := sealedMemfd(t, 0x66617270_73686d31, shm.DefaultRingSize)
	badMagic := sealedMemfd(t, 0x66617270_73686d32, shm.DefaultRingSize)
	badSize := sealedMemfd(t, 0x66617270_73686d31, shm.DefaultRingSize+1)
	closers = append(closers, sealed, badMagic, badSize)
	fd := func(f *os.File) int { return int(f.Fd()) }
	bad := []struct {
		what string
		msg  []byte
		fds  []int
	}{
		{"nothing", nil, nil},
		{"wrong hello", []byte("hello!!!"), []int{fd(sealed)}},
		{"no descriptor", []byte("farpshm1"), nil},
		{"two descriptors", []byte("farpshm1"), []int{fd(sealed), fd(pipeR)}},
		{"a pipe", []byte("farpshm1"), []int{fd(pipeR)}},
		{"unsealed file", []byte("farpshm1"), []int{fd(memfd)}},
		{"wrong magic", []byte("farpshm1"), []int{fd(badMagic)}},
		{"wrong size", []byte("farpshm1"), []int{fd(badSize)}},
	}
	for _, b := range bad {
		uc, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: "@farpipe-shm-" + name, Net: "unix"})
		if err != nil {
			t.Fatalf("%s: dial: %v", b.what, err)
		}
		if b.msg != nil {
			var oob []byte
			if b.fds != nil {
				oob = syscall.UnixRights(b.fds...)
			}
			if _, _, err := uc.WriteMsgUnix(b.msg, oob, nil); err != nil {
				t.Fatalf("%s: send: %v", b.what, err)
			}
		}
		uc.CloseWrite()
		closers = append(closers, uc)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := tr.Dial(context.Background(), name)
	if err != nil {
		t.Fatalf("Dial after the hostile dialers: %v", err)
	}
	defer d.Close()
	a := <-accepted
	if a == nil {
		t.Fatal("Accept failed after the hostile dialers")
	}
	defer a.Close()
	if _, err := d.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(a, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	a.Close()
	closeAll()
	if after := openFds(t); after != fdsBefore {
		t.Errorf("%d descriptors open before the hostile dialers, %d after: Accept leaks what it refuses", fdsBefore, after)
	}
}

// sealedMemfd returns a memfd such as a dialer sends, sealed, with magic
// and ringSize in the header.
func sealedMemfd(t *testing.T, magic uint64, ringSize int) *os.File {
	fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	if err := f.Truncate(int64(4096 + 2*ringSize)); err != nil {
		t.Fatal(err)
	}
	hdr := binary.NativeEndian.AppendUint64(nil, magic)
	hdr = binary.NativeEndian.AppendUint32(hdr, 1)
	hdr = binary.NativeEndian.AppendUint32(hdr, uint32(ringSize))
	if _, err := f.WriteAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
		t.Fatal(err)
	}
	return f
}

// openFds counts the descriptors of the process.
func openFds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestPeerCrash runs the peer in a child process that kills itself with
// SIGKILL in the middle of the stream, and checks that this side's blocked
// Read or Write fails promptly, with an error (not io.EOF) wrapping
// ECONNRESET.
func TestPeerCrash(t *testing.T) {
	for _, mode := range []string{"write", "read"} {
		t.Run("Peer"+map[string]string{"write": "Writing", "read": "Reading"}[mode], func(t *testing.T) { testPeerCrash(t, mode) })
	}
}

func testPeerCrash(t *testing.T, mode string) {
	name := freshName(t)
	ln, err := shm.New().Listen(context.Background(), name)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode+" "+name)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the peer: %v", err)
	}
	defer cmd.Process.Kill()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer c.Close()

	type result struct {
		n   int64
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if mode == "write" { // the peer writes: we read until it is gone
			r.n, r.err = readPattern(c)
		} else { // the peer reads: we write until it is gone
			r.n, r.err = writePattern(c)
		}
		r.at = time.Now()
		done <- r
	}()
	werr := cmd.Wait()
	died := time.Now()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the peer exited with %v, want killed by SIGKILL", werr)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		c.Close()
		<-done
		t.Fatalf("%s still blocked 10s after the peer died", map[string]string{"write": "Read", "read": "Write"}[mode])
	}
	if took := r.at.Sub(died); took > 2*time.Second {
		t.Errorf("the failure came %v after the peer died; want within 2s", took)
	}
	if r.err == io.EOF || !errors.Is(r.err, syscall.ECONNRESET) {
		t.Errorf("after %d bytes: error %v; want one wrapping ECONNRESET (a crash is not EOF)", r.n, r.err)
	}
	if r.n < helperBytes {
		t.Errorf("moved %d bytes before the crash, want at least %d", r.n, helperBytes)
	}
	t.Logf("%d bytes, then %v, %v after the peer died", r.n, r.err, r.at.Sub(died).Round(time.Microsecond))
}

// helperBytes is how much the crash-test peer moves before it dies.
const helperBytes = 8 << 20

// pattern is the byte at stream offset i in the crash tests.
func pattern(i int64) byte { return byte(i % 251) }

// writePattern writes the pattern to w until a Write fails.
func writePattern(w io.Writer) (int64, error) {
	buf := make([]byte, 251*1024)
	for i := range buf {
		buf[i] = pattern(int64(i))
	}
	var n int64
	for {
		m, err := w.Write(buf)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

// readPattern reads r until a Read fails, checking the pattern.
func readPattern(r io.Reader) (int64, error) {
	buf := make([]byte, 100<<10)
	var n int64
	for {
		m, err := r.Read(buf)
		for i, b := range buf[:m] {
			if b != pattern(n+int64(i)) {
				return n + int64(i), fmt.Errorf("byte %d is %d, want %d", n+int64(i), b, pattern(n+int64(i)))
			}
		}
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

// runHelper is the crash-test peer: it dials NAME and, for MODE "write",
// writes the pattern while a timer kills the process once helperBytes are
// written; for MODE "read", it reads helperBytes and kills itself, leaving
// the other side blocked on a full ring.
func runHelper(h string) int {
	var mode, name string
	if _, err := fmt.Sscan(h, &mode, &name); err != nil {
		fmt.Fprintf(os.Stderr, "helper: bad %s=%q\n", helperEnv, h)
		return 2
	}
	c, err := shm.New().Dial(context.Background(), name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper: %v\n", err)
		return 2
	}
	switch mode {
	case "write":
		cw := &countingWriter{w: c}
		go writePattern(cw)
		for cw.n.Load() < helperBytes {
			time.Sleep(time.Millisecond)
		}
	case "read":
		if _, err := io.CopyN(io.Discard, c, helperBytes); err != nil {
			fmt.Fprintf(os.Stderr, "helper: %v\n", err)
			return 2
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n.Add(int64(n))
	return n, err
}

// TestCloseWrite checks half-close in detail: Write fails after it, the
// peer reads EOF and can still answer, a second CloseWrite is harmless, and
// CloseWrite unblocks a Write blocked on a full ring.
func TestCloseWrite(t *testing.T) {
	d, a := pair(t)
	cw := d.(*shm.Conn)
	werr := make(chan error, 1)
	go func() {
		_, err := d.Write(make([]byte, 2*shm.DefaultRingSize)) // blocks: nobody reads
		werr <- err
	}()
	ringFull(t, cw)
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	select {
	case err := <-werr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write blocked during CloseWrite: %v; want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Write still blocked 2s after CloseWrite")
	}
	if err := cw.CloseWrite(); err != nil {
		t.Errorf("second CloseWrite: %v", err)
	}
	if _, err := d.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after CloseWrite: %v; want net.ErrClosed", err)
	}
	n, err := io.Copy(io.Discard, a)
	if err != nil || n != shm.DefaultRingSize {
		t.Errorf("peer read %d bytes, %v; want %d (a full ring), EOF", n, err, shm.DefaultRingSize)
	}
	if _, err := a.Write([]byte("answer")); err != nil {
		t.Fatalf("peer Write after our CloseWrite: %v", err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(d, got); err != nil || string(got) != "answer" {
		t.Errorf("read %q, %v after CloseWrite; want \"answer\"", got, err)
	}
	d.Close()
	if err := cw.CloseWrite(); err == nil {
		t.Error("CloseWrite after Close succeeded")
	}
}

// TestCloseRacesDeadlines closes connections while other goroutines set
// deadlines and CloseWrite: none may touch the memory after it is unmapped.
func TestCloseRacesDeadlines(t *testing.T) {
	for range 20 {
		d, _ := pair(t)
		c := d.(*shm.Conn)
		done := make(chan struct{})
		for range 3 {
			go func() {
				defer func() { done <- struct{}{} }()
				for {
					err := c.SetDeadline(time.Now().Add(time.Second))
					c.CloseWrite()
					if err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		d.Close()
		for range 3 {
			<-done
		}
	}
}

// TestCloseDuringHandshake checks that Listener.Close unblocks an Accept
// that waits for a silent dialer's memfd.
func TestCloseDuringHandshake(t *testing.T) {
	name := freshName(t)
	ln, err := shm.New().Listen(context.Background(), name)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	silent, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: "@farpipe-shm-" + name, Net: "unix"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer silent.Close()
	aerr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if c != nil {
			c.Close()
		}
		aerr <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Accept wait for the memfd
	start := time.Now()
	ln.Close()
	select {
	case err := <-aerr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept still waiting for a silent dialer 2s after Listener.Close")
	}
	t.Logf("Accept returned %v after Close", time.Since(start).Round(time.Microsecond))
}
