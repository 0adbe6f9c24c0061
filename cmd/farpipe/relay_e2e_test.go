package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests of pipes through a relay, with real components: farpipe
// processes (this test binary) dialing a relay process over loopback. Each
// checks a checksum of everything sent against everything received, and
// both exit codes.

// relayKinds are the relays the tests run against: farpipe relay, and
// Debian's nats-server, which proves that nothing depends on the relay
// being ours.
func relayKinds(t *testing.T) []relayKind {
	return []relayKind{farpipeRelayKind(), natsServerKind(t)}
}

// TestRelayExternalServer: 64 MiB from send to recv through Debian's
// nats-server, a separate process.
func TestRelayExternalServer(t *testing.T) {
	t.Parallel()
	r := newRelay(t, natsServerKind(t), false)
	r.startFresh()
	data := randomData(64 << 20)
	recvCmd := command(t, "recv", "--listen", r.url("external"))
	recv := background(t, recvCmd, nil)
	sendCmd := command(t, "send", "--wait", "10s", r.url("external"))
	send := background(t, sendCmd, bytes.NewReader(data))
	s, rr := bothWithin(t, 90*time.Second, sendCmd, send, recvCmd, recv)
	if s.code != 0 || rr.code != 0 {
		t.Fatalf("send exit %d, recv exit %d\nsend: %s\nrecv: %s\nrelay: %s", s.code, rr.code, s.stderr, rr.stderr, r.out.String())
	}
	if len(rr.stdout) != len(data) || sha256.Sum256(rr.stdout) != sha256.Sum256(data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(rr.stdout), len(data))
	}
}

// TestRelayRestart: the relay is killed (SIGKILL) in the middle of a
// transfer and started again on the same port at once; the sessions resume
// and the data arrives intact. It logs how long after the relay was back
// the data flowed again (the goal is 2 s; not asserted).
func TestRelayRestart(t *testing.T) {
	t.Parallel()
	for _, kind := range relayKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			r := newRelay(t, kind, false)
			r.startFresh()
			var killed, back time.Time
			p := runPipe(t, r.url("restart"), r.url("restart"), func() time.Time {
				killed = time.Now()
				r.kill()
				r.start()
				back = time.Now()
				return back
			})
			t.Logf("%s: relay down for %.0f ms (kill to ready); data flowing again %s after it was back",
				kind.name, back.Sub(killed).Seconds()*1000, p.flowAgain())
		})
	}
}

// TestRelayClusterNodeLost: three relays clustered on loopback; the
// receiver waits at relay 2, the sender is given relay 1's address only
// (the cluster tells it the others), and relay 1 is killed mid-stream. The
// sender moves to another relay and the session resumes.
func TestRelayClusterNodeLost(t *testing.T) {
	t.Parallel()
	for _, kind := range relayKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			rs := cluster(t, kind, 3)
			// The sender's first dial must succeed: a failed one lets go of
			// its NATS connection, and the next may pick any relay of the
			// cluster. So it starts once relay 1 knows that recv waits.
			p := runResumed(t, runPipeWaiting(t, rs[1].url("cluster"), rs[0].url("cluster"), func() {
				awaitInterest(t, rs[0], "farpipe.pipe.cluster")
			}, func() time.Time {
				rs[0].kill()
				return time.Now()
			}))
			t.Logf("%s: data flowing again %s after relay 1 was killed", kind.name, p.flowAgain())
		})
	}
}

// TestRelaySameName: two pipes with the same name never mix. A second recv
// --listen at a name where one waits is refused with a one-line error and
// exit 1 (like a TCP address in use), before and during the first pipe's
// transfer; a second send to the name during the transfer is refused too;
// the first pipe's data arrives intact (its checksum would show a stranger's
// bytes).
func TestRelaySameName(t *testing.T) {
	t.Parallel()
	r := newRelay(t, natsServerKind(t), false)
	r.startFresh()
	url := r.url("taken")
	// busy says whether the first listener's NATS connection carries the
	// transfer: its answer to the second one's probe then queues behind
	// up to a window of data, and under load (-race, a loaded machine) may
	// come after the probe's 2 s. The second is still refused, with a
	// wrong reason (a subscriber "that is not farpipe"): reported, logged
	// here rather than failed.
	secondRecv := func(busy bool) {
		t.Helper()
		res := start(t, command(t, "recv", "--listen", url), nil)()
		refused := res.code == exitFailure && oneFarpipeLine(res.stderr) && strings.Contains(res.stderr, "pick another name") && len(res.stdout) == 0
		switch {
		case refused && strings.Contains(res.stderr, "already waits"):
		case refused && busy:
			t.Logf("second recv --listen during the transfer refused with the wrong reason: %s", strings.TrimSpace(res.stderr))
		default:
			t.Errorf("second recv --listen %s: exit %d, stdout %d bytes, stderr %q; want exit %d and one line saying another farpipe already waits",
				url, res.code, len(res.stdout), res.stderr, exitFailure)
		}
	}
	runPipeWaiting(t, url, url, func() { secondRecv(false) }, func() time.Time {
		secondRecv(true)
		res := start(t, command(t, "send", url), strings.NewReader("a stranger's bytes\n"))()
		if res.code == 0 || !oneFarpipeLine(res.stderr) {
			t.Errorf("second send %s during the transfer: exit %d, stderr %q; want a failure in one line", url, res.code, res.stderr)
		}
		t.Logf("second send during the transfer: exit %d, %s", res.code, strings.TrimSpace(res.stderr))
		return time.Now()
	})
}

// oneFarpipeLine reports whether stderr is one line starting "farpipe: ".
func oneFarpipeLine(stderr string) bool {
	return strings.HasPrefix(stderr, "farpipe: ") && strings.Count(stderr, "\n") == 1
}

// A child is a farpipe process started by runCmd, its stderr collected:
// killed, and waited for, when the test ends.
type child struct {
	cmd    *exec.Cmd
	stderr *watchedOutput
	exited chan struct{}
}

func runCmd(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	p := &child{cmd: cmd, stderr: &watchedOutput{changed: make(chan struct{})}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // owned by the cleanup, which waits for exited
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// code is the exit status; call it after exited is closed.
func (p *child) code() int { return p.cmd.ProcessState.ExitCode() }

// waitAll waits up to d for every process to exit; if one has not by then,
// it asks them all for a goroutine dump (SIGQUIT) and fails with their
// stderr.
func waitAll(t *testing.T, d time.Duration, ps ...*child) {
	t.Helper()
	timeout := time.After(d)
	for _, p := range ps {
		select {
		case <-p.exited:
		case <-timeout:
			failDumping(t, fmt.Sprintf("%v did not exit within %v", p.cmd.Args[1:], d), ps...)
		}
	}
}

// failDumping fails the test with why and the stderr of each process,
// asking those still running for a goroutine dump (SIGQUIT) first.
func failDumping(t *testing.T, why string, ps ...*child) {
	t.Helper()
	for _, q := range ps {
		q.cmd.Process.Signal(syscall.SIGQUIT)
	}
	var msg strings.Builder
	msg.WriteString(why)
	for _, q := range ps {
		select {
		case <-q.exited:
		case <-time.After(10 * time.Second):
			q.cmd.Process.Kill()
			<-q.exited
		}
		fmt.Fprintf(&msg, "\n%v exited %d; its stderr:\n%s", q.cmd.Args[1:], q.code(), q.stderr.String())
	}
	t.Fatal(msg.String())
}

// checkExit fails the test unless every process exited 0.
func checkExit(t *testing.T, ps ...*child) {
	t.Helper()
	for _, p := range ps {
		if p.code() != 0 {
			var msg strings.Builder
			for _, q := range ps {
				fmt.Fprintf(&msg, "\n%v exited %d; its stderr:\n%s", q.cmd.Args[1:], q.code(), q.stderr.String())
			}
			t.Fatalf("a farpipe process failed:%s", msg.String())
		}
	}
}

// A pipeRun is a transfer under a fault: what arrived, and when.
type pipeRun struct {
	out      *progressWriter
	recovery time.Time // when the fault was over
	sendLog  string    // send -v's stderr
}

// flowAgain says how long after the fault the data flowed again.
func (p *pipeRun) flowAgain() string {
	at, ok := p.out.firstAfter(p.recovery)
	if !ok {
		return "(no data arrived after it)"
	}
	return fmt.Sprintf("%.0f ms", at.Sub(p.recovery).Seconds()*1000)
}

// runPipe runs recv, listening at recvURL, and send, dialing sendURL, with
// 32 MiB paced at 16 MB/s; once a quarter has arrived it runs fault, which
// returns the time the fault was over. Both must exit 0 with the data
// intact, and the fault must have hit the pipe: send must have resumed.
func runPipe(t *testing.T, recvURL, sendURL string, fault func() time.Time) *pipeRun {
	t.Helper()
	return runResumed(t, runPipeWaiting(t, recvURL, sendURL, nil, fault))
}

// runResumed fails the test unless send resumed in p, and returns p.
func runResumed(t *testing.T, p *pipeRun) *pipeRun {
	t.Helper()
	if !strings.Contains(p.sendLog, "resumed after") {
		t.Errorf("send -v reports no resumption: the fault did not hit the pipe\n%s", p.sendLog)
	}
	return p
}

// runPipeWaiting is runPipe that also runs waiting, if not nil, once recv
// waits for the sender and before the sender starts.
func runPipeWaiting(t *testing.T, recvURL, sendURL string, waiting func(), fault func() time.Time) *pipeRun {
	t.Helper()
	const size = 32 << 20
	h := sha256.New()
	out := &progressWriter{h: h, at: size / 4, reached: make(chan struct{})}
	recvCmd := command(t, "recv", "-v", "--listen", recvURL)
	recvCmd.Stdout = out
	recv := runCmd(t, recvCmd)
	if waiting != nil {
		if _, err := recv.stderr.waitLine("listening on", 30*time.Second, recv.exited); err != nil {
			failDumping(t, fmt.Sprintf("recv does not listen: %v", err), recv)
		}
		waiting()
	}
	in, sum := newPaced(size, 16<<20)
	sendCmd := command(t, "send", "-v", "--wait", "10s", sendURL)
	sendCmd.Stdin = in
	send := runCmd(t, sendCmd)
	select {
	case <-out.reached:
	case <-send.exited:
	case <-recv.exited:
	case <-time.After(60 * time.Second):
	}
	select {
	case <-out.reached:
	default:
		failDumping(t, "a quarter of the stream did not arrive", send, recv)
	}
	p := &pipeRun{out: out, recovery: fault()}
	waitAll(t, 60*time.Second, send, recv)
	p.sendLog = send.stderr.String()
	t.Logf("send -v: %s", p.sendLog)
	checkExit(t, send, recv)
	var got [32]byte
	h.Sum(got[:0])
	if n := out.bytes(); n != size || got != sum() {
		t.Fatalf("received %d bytes that differ from the %d sent", n, size)
	}
	return p
}

// progressWriter hashes what it is given and records when it arrives.
type progressWriter struct {
	h       io.Writer
	at      int           // reached is closed once at bytes have arrived
	reached chan struct{} // closed once
	mu      sync.Mutex
	n       int
	times   []time.Time // arrival of each write
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n < w.at && w.n+len(p) >= w.at {
		close(w.reached)
	}
	w.n += len(p)
	w.times = append(w.times, time.Now())
	return w.h.Write(p)
}

func (w *progressWriter) bytes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// firstAfter returns the first arrival after t.
func (w *progressWriter) firstAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.times {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}
