package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/faults"
	"github.com/farpipe/farpipe/wire"
)

// pacedReader yields n pseudo-random bytes at about rate bytes per second,
// hashing what it produced.
type pacedReader struct {
	left, rate int
	start      time.Time
	done       int
	src        []byte
	sum        interface{ Write([]byte) (int, error) }
}

func newPaced(n, rate int) (*pacedReader, func() [32]byte) {
	h := sha256.New()
	p := &pacedReader{left: n, rate: rate, src: randomData(1 << 20), sum: h}
	return p, func() [32]byte { var s [32]byte; h.Sum(s[:0]); return s }
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if ahead := time.Duration(float64(p.done)/float64(p.rate)*float64(time.Second)) - time.Since(p.start); ahead > 0 {
		time.Sleep(ahead)
	}
	n := min(len(b), p.left, 64<<10)
	off := p.done % len(p.src)
	n = copy(b[:n], p.src[off:])
	// Make every megabyte different, so that a misplaced one shows.
	b[0] ^= byte(p.done >> 20)
	p.sum.Write(b[:n])
	p.left -= n
	p.done += n
	return n, nil
}

// TestCLIRandomResets: 64 MiB (8 windows) from send to recv, paced to
// last about 6 s, through a proxy that resets the connection every 0.2-2 s;
// both exit 0 with identical data, and -v reports each resumption. Not
// parallel: like the root package's resume tests, it needs reconnections
// quicker than the resets, which busy CPUs do not promise.
func TestCLIRandomResets(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 16 << 20
	}
	addr := freeAddr(t)
	p := faults.New(t, addr)
	fast := []string{"--keepalive-timeout", "1s", "--backoff-max", "200ms", "--resume-timeout", "20s", "-v"}
	recvCmd := command(t, append([]string{"recv", "--listen", addr}, fast...)...)
	recv := background(t, recvCmd, nil)
	in, sum := newPaced(size, 10<<20)
	sendCmd := command(t, append([]string{"send", "--wait", "10s", p.Addr()}, fast...)...)
	send := background(t, sendCmd, in)
	ctx, cancel := context.WithCancel(context.Background())
	resets := p.ResetEvery(ctx, t, 200*time.Millisecond, 2*time.Second)
	s, r := bothWithin(t, 90*time.Second, sendCmd, send, recvCmd, recv)
	cancel()
	n := <-resets
	if s.code != 0 || r.code != 0 {
		t.Fatalf("send exit %d, recv exit %d\nsend: %s\nrecv: %s", s.code, r.code, s.stderr, r.stderr)
	}
	if sha256.Sum256(r.stdout) != sum() || len(r.stdout) != size {
		t.Fatalf("received %d bytes that differ from the %d sent", len(r.stdout), size)
	}
	resumed := strings.Count(s.stderr, "resumed after")
	t.Logf("%d resets; send -v:\n%s", n, s.stderr)
	if n > 1 && resumed == 0 {
		t.Errorf("%d resets, but send -v reports no resumption", n)
	}
	for _, line := range strings.Split(strings.TrimSpace(s.stderr+r.stderr), "\n") {
		if !strings.HasPrefix(line, "farpipe: ") {
			t.Errorf("stderr line does not start with farpipe: %q", line)
		}
	}
	_ = bytes.MinRead
}

// TestCLIRecvWaitsForSender: the connection fails just after recv, which
// has the whole stream, sent its acknowledgement of the end of the stream,
// which never arrives, and the sender cannot come back for 2 s, longer than
// recv used to wait after its end. recv must still be there (its listener
// open) when the sender resumes, so that the sender gets the
// acknowledgement again; both exit 0.
func TestCLIRecvWaitsForSender(t *testing.T) {
	t.Parallel()
	data := randomData(1 << 20)
	addr := freeAddr(t)
	var finAck [wire.HeaderLen]byte
	wire.Header{Type: wire.TypeAck, Flags: wire.FlagFin, Arg: uint64(len(data))}.Put(finAck[:])
	p := faults.NewWithhold(t, addr, finAck[:]) // --no-encrypt: frames can be recognised
	flags := []string{"--no-encrypt", "--keepalive-timeout", "10s", "--backoff-max", "200ms", "--resume-timeout", "10s", "-v"}
	recv := background(t, command(t, append([]string{"recv", "--listen", addr}, flags...)...), nil)
	send := background(t, command(t, append([]string{"send", "--wait", "10s", p.Addr()}, flags...)...), bytes.NewReader(data))
	select {
	case <-p.Seen():
	case r := <-recv:
		t.Fatalf("recv exited (%d) before the end of the stream was acknowledged\nrecv: %s", r.code, r.stderr)
	case <-time.After(60 * time.Second):
		t.Fatal("the acknowledgement of the end of the stream was not seen within 60 s")
	}
	p.Cut()
	select {
	case r := <-recv:
		t.Fatalf("recv exited (%d) while the sender was cut off\nrecv: %s", r.code, r.stderr)
	case <-time.After(2 * time.Second): // the outage under test
	}
	p.Admit()
	s, r := within(t, send), within(t, recv)
	if s.code != 0 || r.code != 0 {
		t.Fatalf("send exit %d, recv exit %d\nsend: %s\nrecv: %s", s.code, r.code, s.stderr, r.stderr)
	}
	if !bytes.Equal(r.stdout, data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(r.stdout), len(data))
	}
	if !strings.Contains(s.stderr, "resumed after") {
		t.Errorf("send -v reports no resumption:\n%s", s.stderr)
	}
}

// background starts cmd with stdin and captures its output; the channel
// gets the result when it exits. The process is killed, and waited for,
// when the test ends. Unlike start, nothing here fails the test from
// another goroutine.
func background(t *testing.T, cmd *exec.Cmd, stdin io.Reader) <-chan result {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		cmd.Wait()
		done <- result{cmd.ProcessState.ExitCode(), out.Bytes(), errb.String()}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return done
}

// bothWithin waits up to d for both results of background; if either is
// not there by then, it asks both processes for a goroutine dump (SIGQUIT)
// and fails with their stderr.
func bothWithin(t *testing.T, d time.Duration, c1 *exec.Cmd, r1 <-chan result, c2 *exec.Cmd, r2 <-chan result) (result, result) {
	t.Helper()
	timeout := time.After(d)
	var res [2]*result
	for got := 0; got < 2; {
		select {
		case r := <-r1:
			res[0], r1 = &r, nil
			got++
		case r := <-r2:
			res[1], r2 = &r, nil
			got++
		case <-timeout:
			var msg strings.Builder
			for i, c := range []*exec.Cmd{c1, c2} {
				ch := []<-chan result{r1, r2}[i]
				if ch == nil {
					fmt.Fprintf(&msg, "%v exited %d; its stderr:\n%s\n", c.Args[1:], res[i].code, res[i].stderr)
					continue
				}
				c.Process.Signal(syscall.SIGQUIT)
				select {
				case r := <-ch:
					fmt.Fprintf(&msg, "%v did not exit within %v; its stderr and goroutines:\n%s\n", c.Args[1:], d, r.stderr)
				case <-time.After(10 * time.Second):
					fmt.Fprintf(&msg, "%v did not exit within %v, nor on SIGQUIT\n", c.Args[1:], d)
				}
			}
			t.Fatal(msg.String())
		}
	}
	return *res[0], *res[1]
}

// within waits up to 60 s for a result of background.
func within(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("a farpipe process did not exit within 60 s")
		return result{}
	}
}
