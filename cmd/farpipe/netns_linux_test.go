package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// twoHosts creates two network namespaces joined by a veth pair, like two
// hosts on a cable, and returns their names, the second one's address and
// a function that sets the first one's end of the cable down or up. They
// are removed when the test ends. It skips the test unless it runs as root
// with iproute2 installed.
func twoHosts(t *testing.T) (a, b, addrB string, link func(up bool)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespaces need root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: the ip command (iproute2) is not installed")
	}
	id := rand.N(1 << 20)
	a, b = fmt.Sprintf("fpA%d", id), fmt.Sprintf("fpB%d", id)
	va, vb := fmt.Sprintf("fpa%d", id), fmt.Sprintf("fpb%d", id)
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		ip("netns", "del", a)
		ip("netns", "del", b)
	})
	// Link-local addresses: they exist only on this cable.
	addrA, addrB := "169.254.77.1", "169.254.77.2"
	for _, args := range [][]string{
		{"netns", "add", a}, {"netns", "add", b},
		{"link", "add", va, "type", "veth", "peer", "name", vb},
		{"link", "set", va, "netns", a}, {"link", "set", vb, "netns", b},
		{"-n", a, "addr", "add", addrA + "/24", "dev", va}, {"-n", b, "addr", "add", addrB + "/24", "dev", vb},
		{"-n", a, "link", "set", va, "up"}, {"-n", b, "link", "set", vb, "up"},
		{"-n", a, "link", "set", "lo", "up"}, {"-n", b, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Skipf("skipping: cannot build the two-host network: %v", err)
		}
	}
	return a, b, addrB, func(up bool) {
		state := "down"
		if up {
			state = "up"
		}
		if err := ip("-n", a, "link", "set", va, state); err != nil {
			t.Error(err)
		}
	}
}

// inNetns returns farpipe with args, run in network namespace ns.
func inNetns(t *testing.T, ns string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), "FARPIPE_RUN_MAIN=1", "FARPIPE_TOKEN="+testToken)
	return cmd
}

// timedWriter records when bytes arrive.
type timedWriter struct {
	mu    sync.Mutex
	n     int
	times []time.Time // arrival of each write
	h     interface{ Write([]byte) (int, error) }
	at    int // reached is closed once at bytes have arrived
	once  sync.Once
	reach chan struct{}
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(p)
	w.times = append(w.times, time.Now())
	if w.n >= w.at && w.reach != nil {
		w.once.Do(func() { close(w.reach) })
	}
	return w.h.Write(p)
}

// firstAfter returns the first arrival after t.
func (w *timedWriter) firstAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.times {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// TestNetnsLinkDown: the cable between two hosts is pulled for 3 s in the
// middle of a transfer. Both sides keep their default settings; the
// transfer completes with identical data and both exit 0.
func TestNetnsLinkDown(t *testing.T) {
	t.Parallel()
	hostA, hostB, addrB, link := twoHosts(t)
	addr := addrB + ":7000"
	recv := inNetns(t, hostB, "recv", "-v", "--listen", addr)
	h := sha256.New()
	size := 160 << 20
	reached := make(chan struct{})
	out := &timedWriter{h: h, at: size / 5, reach: reached}
	recv.Stdout = out
	var recvErr strings.Builder
	recv.Stderr = &recvErr
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	in, sum := newPaced(size, 20<<20) // 8 s at 20 MB/s
	send := inNetns(t, hostA, "send", "-v", "--wait", "10s", addr)
	send.Stdin = in
	var sendErr strings.Builder
	send.Stderr = &sendErr
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	select { // in the middle of the transfer
	case <-reached:
	case <-time.After(60 * time.Second):
		send.Process.Kill()
		recv.Process.Kill()
		send.Wait()
		recv.Wait()
		t.Fatalf("a fifth of the stream did not arrive within 60 s\nsend: %s\nrecv: %s", sendErr.String(), recvErr.String())
	}
	link(false)
	time.Sleep(3 * time.Second) // the outage under test
	link(true)
	up := time.Now()

	waitErr := make(chan error, 2)
	go func() { waitErr <- send.Wait() }()
	go func() { waitErr <- recv.Wait() }()
	for range 2 {
		select {
		case <-waitErr:
		case <-time.After(60 * time.Second):
			send.Process.Kill()
			recv.Process.Kill()
			t.Fatalf("not done 60 s after the link came back\nsend: %s\nrecv: %s", sendErr.String(), recvErr.String())
		}
	}
	t.Logf("send -v:\n%srecv -v:\n%s", sendErr.String(), recvErr.String())
	if send.ProcessState.ExitCode() != 0 || recv.ProcessState.ExitCode() != 0 {
		t.Fatalf("send exit %d, recv exit %d", send.ProcessState.ExitCode(), recv.ProcessState.ExitCode())
	}
	var got [32]byte
	h.Sum(got[:0])
	if out.n != size || got != sum() {
		t.Fatalf("received %d bytes that differ from the %d sent", out.n, size)
	}
	if at, ok := out.firstAfter(up); ok {
		t.Logf("data flowing again %.2f s after the link came up", at.Sub(up).Seconds())
	}
	_ = io.Discard
}
