package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// queueRelay starts an in-process relay on loopback and returns its URL.
func queueRelay(t *testing.T) string {
	t.Helper()
	return queueRelaySized(t, 0)
}

// queueRelaySized is queueRelay with messages of at most maxPayload bytes.
func queueRelaySized(t *testing.T, maxPayload int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := relay.Start(ctx, relay.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s.ClientURL()
}

// seqInput is the output of seq 1 n.
func seqInput(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintln(&b, i)
	}
	return b.Bytes()
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// workerProc is a running farpipe worker.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
}

// startWorker runs farpipe worker (through prefix, like "ip netns exec
// NS", when given); it is killed and waited for when the test ends.
func startWorker(t *testing.T, cmd *exec.Cmd) *workerProc {
	t.Helper()
	w := &workerProc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // owned by the cleanup, which waits for exited
		defer close(w.exited)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.exited
	})
	return w
}

// countWriter hashes what arrives and closes reached once at bytes did.
type countWriter struct {
	mu    sync.Mutex
	n     int
	h     interface{ Write([]byte) (int, error) }
	at    int
	once  sync.Once
	reach chan struct{}
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(p)
	if w.n >= w.at {
		w.once.Do(func() { close(w.reach) })
	}
	return w.h.Write(p)
}

// runMapQueueCmd runs map with args on in; midway (once a fifth of the output
// arrived) it calls midway. It returns the exit status, stderr and the
// output's sha256 and size.
func runMapQueueCmd(t *testing.T, in []byte, midway func(), args ...string) (int, string, [32]byte, int) {
	t.Helper()
	return runMapCmdMidway(t, command(t, append([]string{"map"}, args...)...), in, midway)
}

// runMapCmdMidway is runMapQueueCmd with the map command given.
func runMapCmdMidway(t *testing.T, cmd *exec.Cmd, in []byte, midway func()) (int, string, [32]byte, int) {
	t.Helper()
	h := sha256.New()
	out := &countWriter{h: h, at: len(in) / 5, reach: make(chan struct{})}
	var stderr syncBuffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { // waited for below
		defer close(exited)
		cmd.Wait()
	}()
	timeout := time.After(5 * time.Minute)
	if midway != nil {
		select {
		case <-out.reach:
			midway()
		case <-exited:
		case <-timeout:
		}
	}
	select {
	case <-exited:
	case <-timeout:
		cmd.Process.Signal(syscall.SIGQUIT)
		<-exited
		t.Fatalf("map did not end within 5 minutes: %s", stderr.String())
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return cmd.ProcessState.ExitCode(), stderr.String(), sum, out.n
}

// TestMapViaQueueWorkerKilled: three workers of two slots serve 3,000
// chunks; one is killed -9 in the middle. The output is the input (cat),
// byte for byte, and map exits 0.
func TestMapViaQueueWorkerKilled(t *testing.T) {
	t.Parallel()
	addr := queueRelay(t) + "/killed"
	var workers []*workerProc
	for range 3 {
		workers = append(workers, startWorker(t, command(t, "worker", "-j", "2", "--ack-wait", "2s", addr, "--", "cat")))
	}
	in := seqInput(30000) // 3,000 chunks of 10 lines
	code, stderr, sum, n := runMapQueueCmd(t, in, func() {
		workers[0].cmd.Process.Signal(syscall.SIGKILL)
	}, "--via", addr, "--records", "10", "-j", "32")
	if code != 0 || sum != sha256.Sum256(in) {
		t.Fatalf("exit %d, %d bytes of %d, same: %v; stderr: %s\nworkers: %s | %s", code, n, len(in), sum == sha256.Sum256(in), stderr, workers[1].stderr, workers[2].stderr)
	}
	select {
	case <-workers[0].exited:
	default:
		t.Fatal("the killed worker still runs")
	}
}

// TestMapViaQueueLargeOutputs: outputs several times larger than a
// message (64 KiB here) come back in parts, whole and in order, as local
// map writes them; --block is cut to fit a message.
func TestMapViaQueueLargeOutputs(t *testing.T) {
	t.Parallel()
	addr := queueRelaySized(t, 64<<10) + "/large"
	triple := []string{"awk", "{ print; print; print }"}
	for range 2 {
		startWorker(t, command(t, append([]string{"worker", "-j", "2", addr, "--"}, triple...)...))
	}
	in := seqInput(200000)
	local := runMapCmd(t, in, false, append([]string{"--block", "56KiB", "--"}, triple...)...)
	if local.code != 0 {
		t.Fatalf("local map: exit %d: %s", local.code, local.stderr)
	}
	for _, args := range [][]string{{}, {"-j", "3"}} {
		code, stderr, sum, n := runMapQueueCmd(t, in, nil, append([]string{"--via", addr}, args...)...)
		if code != 0 || sum != sha256.Sum256(local.stdout) {
			t.Fatalf("%q: exit %d, %d bytes of %d; stderr: %s", args, code, n, len(local.stdout), stderr)
		}
	}
	// --unordered: the same lines, each chunk's output whole.
	cmd := command(t, "map", "--via", addr, "--unordered")
	r := start(t, cmd, bytes.NewReader(in))()
	if r.code != 0 || !sameLines(r.stdout, local.stdout) {
		t.Fatalf("--unordered: exit %d, %d bytes of %d: %s", r.code, len(r.stdout), len(local.stdout), r.stderr)
	}
	code, stderr, _, _ := runMapQueueCmd(t, in, nil, "--via", addr, "--block", "1MiB")
	if code != 2 || !strings.Contains(stderr, "more than a message of the relay") {
		t.Fatalf("--block 1MiB over 64 KiB messages: exit %d: %s", code, stderr)
	}
}

// sameLines reports whether a and b hold the same lines, in any order.
func sameLines(a, b []byte) bool {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	slices.Sort(la)
	slices.Sort(lb)
	return slices.Equal(la, lb)
}

// TestMapViaQueueFailure: a command that fails on one chunk stops map with
// exit 9, naming the chunk, after --retries; with --keep-going the other
// chunks are written.
func TestMapViaQueueFailure(t *testing.T) {
	t.Parallel()
	addr := queueRelay(t) + "/fail"
	for range 2 {
		startWorker(t, command(t, "worker", "-j", "2", addr, "--", "sh", "-c",
			`awk '$0 == "500" { bad = 1 } { print } END { if (bad) { print "bad record" > "/dev/stderr"; exit 3 } }'`))
	}
	in := seqInput(2000)
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"plain", nil, []string{"chunk 49 (bytes", `first record "491\n"`, "status 3", "bad record"}},
		{"retries", []string{"--retries", "2"}, []string{"chunk 49", "(3 attempts)"}},
		{"keep-going", []string{"--keep-going"}, []string{"1 of 200 chunks failed; the first was chunk 49"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr, _, n := runMapQueueCmd(t, in, nil, append([]string{"--via", addr, "--records", "10"}, tt.args...)...)
			if code != 9 {
				t.Fatalf("exit %d, want 9; stderr: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, stderr)
				}
			}
			// As under local map, the output of the failed command (all of
			// its chunk) is written too with --keep-going.
			if tt.name == "keep-going" && n != len(in) {
				t.Errorf("keep-going wrote %d bytes of %d", n, len(in))
			}
		})
	}
}

// TestMapViaQueueHeartbeat: a chunk that runs twice the ack wait on a
// live worker is not given to the other worker: it runs once.
//
// The worker reports progress every ack wait / 5 (1.6 s), so the relay
// must stall for 6.4 s before it gives a chunk again. With an ack wait of
// 4 s, one CI run saw both chunks run twice within 10.45 s: a stall of
// the test's relay (its store is on disk) longer than 3.2 s would do
// that. Each run's start time is written down, and a failure shows the
// workers' logs, to tell a stall (runs an ack wait apart) from a chunk
// given back (a worker's log line).
func TestMapViaQueueHeartbeat(t *testing.T) {
	t.Parallel()
	addr := queueRelay(t) + "/slow"
	runs := filepath.Join(t.TempDir(), "runs")
	var workers []*workerProc
	for range 2 {
		workers = append(workers, startWorker(t, command(t, "worker", "--ack-wait", "8s", addr, "--", "sh", "-c",
			`echo "$FARPIPE_CHUNK $(date +%T.%N)" >> `+runs+`; sleep 16; cat`)))
	}
	in := seqInput(2)
	code, stderr, sum, _ := runMapQueueCmd(t, in, nil, "--via", addr, "--records", "1")
	if code != 0 || sum != sha256.Sum256(in) {
		t.Fatalf("exit %d; stderr: %s", code, stderr)
	}
	got, err := os.ReadFile(runs)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(got)), "\n"); len(lines) != 2 {
		t.Fatalf("the chunks ran %d times (%q), want once each; map: %s; workers: %s; %s",
			len(lines), lines, stderr, workers[0].stderr, workers[1].stderr)
	}
}

// TestWorkerSignal: a worker stopped by SIGTERM in the middle of a chunk
// exits 143 and gives the chunk back: another worker runs it.
func TestWorkerSignal(t *testing.T) {
	t.Parallel()
	addr := queueRelay(t) + "/sig"
	started := filepath.Join(t.TempDir(), "started")
	first := startWorker(t, command(t, "worker", addr, "--", "sh", "-c", `touch `+started+`; sleep 30; cat`))
	in := seqInput(10)
	done := make(chan struct{})
	var (
		code   int
		stderr string
		sum    [32]byte
	)
	go func() {
		defer close(done)
		code, stderr, sum, _ = runMapQueueCmd(t, in, nil, "--via", addr)
	}()
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		select {
		case <-done:
			t.Fatalf("map ended before the worker started: %s", stderr)
		case <-time.After(50 * time.Millisecond): // polls for a file
		}
	}
	first.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-first.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the worker did not exit within 30 s of SIGTERM: %s", first.stderr)
	}
	if c := first.cmd.ProcessState.ExitCode(); c != 143 {
		t.Errorf("worker exit %d, want 143: %s", c, first.stderr)
	}
	startWorker(t, command(t, "worker", addr, "--", "cat"))
	<-done
	if code != 0 || sum != sha256.Sum256(in) {
		t.Fatalf("map exit %d; stderr: %s", code, stderr)
	}
}

// TestMapViaQueueSignal: map interrupted while its chunks wait on the
// queue (no worker yet) exits 130 and takes them off the queue.
func TestMapViaQueueSignal(t *testing.T) {
	url := queueRelay(t)
	cmd := command(t, "map", "--via", url+"/intr", "--records", "1")
	done := background(t, cmd, bytes.NewReader(seqInput(10)))
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	queued := func() uint64 {
		s, err := js.Stream(ctx, "FARPIPE_WORK_intr")
		if err != nil {
			return 0
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	for queued() < 8 { // map's window
		select {
		case r := <-done:
			t.Fatalf("map exited %d: %s", r.code, r.stderr)
		case <-ctx.Done():
			t.Fatal("the chunks did not reach the queue within 60 s")
		case <-time.After(20 * time.Millisecond): // polls the stream
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	r := within(t, done)
	if r.code != 130 {
		t.Fatalf("exit %d, want 130: %s", r.code, r.stderr)
	}
	if n := queued(); n != 0 {
		t.Fatalf("%d chunks left on the queue", n)
	}
}

func TestWorkerUsage(t *testing.T) {
	for _, args := range [][]string{
		{"worker", "nats://127.0.0.1:1/q"},
		{"worker", "--", "cat"},
		{"worker", "127.0.0.1:1", "--", "cat"},
		{"worker", "-j", "0", "nats://127.0.0.1:1/q", "--", "cat"},
		{"map", "--via", "nats://127.0.0.1:1/q", "--via", "127.0.0.1:2"},
	} {
		r := start(t, command(t, args...), nil)()
		if r.code != 2 || !oneLineErr(r.stderr) {
			t.Errorf("%q: exit %d, %q", args, r.code, r.stderr)
		}
	}
}

// BenchmarkViaQueue compares map --via QUEUE with two local cat workers to
// local map -j 2 -- cat on 64 MiB of lines from a pipe; it reports both
// rates and their ratio (the goal: at least 0.5).
func BenchmarkViaQueue(b *testing.B) {
	url := queueRelayB(b)
	addr := url + "/bench"
	benchVia(b, addr, 64<<20)
}

// benchVia runs two local "worker ADDR -- cat" (one slot each) and times
// map --via ADDR against local map -j 2 -- cat on size bytes of lines from
// a pipe, reporting both rates and their ratio.
func benchVia(b *testing.B, addr string, size int) {
	t := &testing.T{} // for command, which only calls t.Helper
	var workers []*exec.Cmd
	for range 2 {
		w := command(t, "worker", addr, "--", "cat")
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		workers = append(workers, w)
	}
	defer func() {
		for _, w := range workers {
			w.Process.Kill()
			w.Wait()
		}
	}()
	in := bytes.Repeat([]byte("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 abcdefghijklmno\n"), size/100)
	run := func(args ...string) time.Duration {
		cmd := command(t, append([]string{"map"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), io.Discard, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%v: %v %s", args, err, stderr.Bytes())
		}
		return time.Since(start)
	}
	var local, queue time.Duration
	b.SetBytes(int64(2 * len(in)))
	for b.Loop() {
		local += run("-j", "2", "--", "cat")
		queue += run("--via", addr)
	}
	b.ReportMetric(float64(len(in)*b.N)/local.Seconds()/1e6, "local-MB/s")
	b.ReportMetric(float64(len(in)*b.N)/queue.Seconds()/1e6, "queue-MB/s")
	b.ReportMetric(local.Seconds()/queue.Seconds(), "ratio")
}

func queueRelayB(b *testing.B) string {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := relay.Start(ctx, relay.Config{Listen: "127.0.0.1:0", StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	return s.ClientURL()
}
