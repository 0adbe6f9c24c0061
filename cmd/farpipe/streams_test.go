package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/broker/brokertest"
	"github.com/farpipe/farpipe/relay"
)

// startStreamRelay starts an in-process relay with JetStream on loopback,
// shut down when the test ends.
func startStreamRelay(t *testing.T, cfg relay.Config) *relay.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.StoreDir = t.TempDir()
	r, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

// makeStream makes the stream at addr, as a pub with no input does.
func makeStream(t *testing.T, addr string) {
	t.Helper()
	if p := start(t, command(t, "pub", addr), strings.NewReader(""))(); p.code != 0 {
		t.Fatalf("pub exited %d: %s", p.code, p.stderr)
	}
}

// streamProc is a process whose standard output the test reads as it comes.
type streamProc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     bytes.Buffer
	stderr  bytes.Buffer
	changed chan struct{}
	done    chan struct{} // closed when the process exited and its output was read
	code    int
}

// startStreamProc starts cmd with stdin; the process is killed when the test
// ends.
func startStreamProc(t *testing.T, cmd *exec.Cmd, stdin io.Reader) *streamProc {
	t.Helper()
	w := &streamProc{cmd: cmd, changed: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stdin = stdin
	cmd.Stderr = &w.stderr
	pr, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		b := make([]byte, 64<<10)
		for {
			n, err := pr.Read(b)
			w.mu.Lock()
			w.out.Write(b[:n])
			w.mu.Unlock()
			select {
			case w.changed <- struct{}{}:
			default:
			}
			if err != nil {
				break
			}
		}
		cmd.Wait()
		w.code = cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.done
	})
	return w
}

// waitLines waits until the output holds at least n lines.
func (w *streamProc) waitLines(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		w.mu.Lock()
		have := bytes.Count(w.out.Bytes(), []byte("\n"))
		w.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-w.changed:
		case <-w.done:
			t.Fatalf("%v exited with %d lines of the %d awaited; stderr: %s", w.cmd.Args, have, n, w.stderr.String())
		case <-timeout:
			t.Fatalf("%v: %d lines of the %d awaited after 60 s; stderr: %s", w.cmd.Args, have, n, w.stderr.String())
		}
	}
}

// wait waits for the process's exit and returns its exit status and output.
func (w *streamProc) wait(t *testing.T) (int, []byte) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(90 * time.Second):
		w.cmd.Process.Signal(syscall.SIGQUIT)
		<-w.done
		t.Fatalf("%v did not exit within 90 s; stderr: %s", w.cmd.Args, w.stderr.String())
	}
	return w.code, w.out.Bytes()
}

// TestStreamsFanInFanOut: three publishers into one stream, three
// subscribers: one following as records come, one reading after the
// publishers finished, and one durable writing to a file (-o), killed with
// SIGKILL mid-stream and started again. Every subscriber gets every record
// exactly once, each publisher's in order (per-publisher sequence numbers).
func TestStreamsFanInFanOut(t *testing.T) {
	t.Parallel()
	r := startStreamRelay(t, relay.Config{})
	addr := r.ClientURL() + "/fan"
	ids := []string{"p0", "p1", "p2"}
	const n = 5000
	makeStream(t, addr)
	follow := startStreamProc(t, command(t, "sub", "--follow", "--label", "--from", "start", addr), nil)
	file := filepath.Join(t.TempDir(), "durable")
	durable := startStreamProc(t, command(t, "sub", "--follow", "--label", "--durable", "d1", "--max-pending", "16", "-o", file, addr), nil)
	var pubs []*streamProc
	for i, id := range ids {
		// Records of different sizes; p2's are longer than a message.
		pubs = append(pubs, startStreamProc(t, command(t, "pub", "--id", id, "--max-message", "2KiB", addr),
			bytes.NewReader(brokertest.Lines(id, n, []int{40, 300, 3000}[i]))))
	}
	killedAt := waitFileSize(t, file, int64(len(ids)*n*300/2), durable)
	durable.cmd.Process.Signal(syscall.SIGKILL)
	durable.wait(t)
	for _, p := range pubs {
		if code, _ := p.wait(t); code != 0 {
			t.Fatalf("%v exited %d: %s", p.cmd.Args, code, p.stderr.String())
		}
	}
	after := startStreamProc(t, command(t, "sub", "--label", addr), nil)
	again := startStreamProc(t, command(t, "sub", "--label", "--durable", "d1", "-o", file, addr), nil)
	follow.waitLines(t, len(ids)*n)
	follow.cmd.Process.Signal(syscall.SIGTERM)
	outs := map[string][]byte{}
	if code, out := follow.wait(t); code != 128+int(syscall.SIGTERM) {
		t.Errorf("the following sub exited %d after SIGTERM, want %d: %s", code, 128+int(syscall.SIGTERM), follow.stderr.String())
	} else {
		outs["following"] = out
	}
	for name, w := range map[string]*streamProc{"after": after, "durable restarted": again} {
		code, out := w.wait(t)
		if code != 0 {
			t.Fatalf("sub (%s) exited %d: %s", name, code, w.stderr.String())
		}
		outs[name] = out
	}
	out, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	outs["durable restarted"] = out
	if killedAt >= int64(len(out)) {
		t.Errorf("the durable subscriber was killed after the end: its file held %d bytes of %d", killedAt, len(out))
	}
	t.Logf("the durable subscriber was killed when its file held %d bytes (of %d)", killedAt, len(out))
	for name, out := range outs {
		if fault := brokertest.CheckLabeled(out, ids, n); fault != "" {
			t.Errorf("sub (%s): %s", name, fault)
		}
	}
}

// startStreamCluster starts n relays on loopback routed into one JetStream
// cluster, and waits until it has a meta leader.
func startStreamCluster(t *testing.T, n int) []*relay.Server {
	t.Helper()
	rs := []*relay.Server{startStreamRelay(t, relay.Config{Cluster: "127.0.0.1:0", Name: "n0"})}
	for i := 1; i < n; i++ {
		rs = append(rs, startStreamRelay(t, relay.Config{Cluster: "127.0.0.1:0", Name: fmt.Sprintf("n%d", i), Routes: []string{rs[0].ClusterURL()}}))
	}
	pollFor(t, "a JetStream meta leader that knows every peer", func() bool {
		for _, r := range rs {
			if r.NATS().JetStreamIsLeader() && len(r.NATS().JetStreamClusterPeers()) == n {
				return true
			}
		}
		return false
	})
	return rs
}

// pollFor polls cond, state of servers that tell no event, for a minute.
func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after a minute", what)
		}
		<-tick.C
	}
}

// TestStreamsClusterNodeDown: three clustered relays; two publishers into
// a stream with three replicas, a subscriber following it, and map --via a
// work queue with three replicas served by three workers, all running when
// a node (the one leading most of the streams) is shut down. The
// publishers and map exit 0; a subscriber afterwards reads every record
// once, in order; map's output is its input (cat), byte for byte.
func TestStreamsClusterNodeDown(t *testing.T) {
	t.Parallel()
	rs := startStreamCluster(t, 3)
	hosts := make([]string, len(rs))
	for i, r := range rs {
		hosts[i] = strings.TrimPrefix(r.ClientURL(), "nats://")
	}
	relays := "nats://" + strings.Join(hosts, ",")
	addr, queue := relays+"/clu", relays+"/cluq"
	ids := []string{"p0", "p1"}
	const n = 40000
	var pubs []*streamProc
	var pipes []io.WriteCloser
	var inputs [][]byte
	for _, id := range ids {
		pr, pw := io.Pipe()
		in := brokertest.Lines(id, n, 80)
		pubs = append(pubs, startStreamProc(t, command(t, "pub", "-v", "--id", id, "--replicas", "3", "--max-message", "8KiB", addr), pr))
		pipes, inputs = append(pipes, pw), append(inputs, in)
		t.Cleanup(func() { pw.Close() }) // before the process's cleanup waits for it
	}
	var workers []*workerProc
	for range 3 {
		workers = append(workers, startWorker(t, command(t, "worker", "-j", "2", "--ack-wait", "2s", "--replicas", "3", queue, "--", "cat")))
	}
	// 1,200 chunks of 10 lines; small blocks, so that map does not wait
	// for more input to send the chunks of the first half (it waits for
	// the second half until the node is down).
	mapIn := seqInput(12000)
	mr, mw := io.Pipe()
	mapper := startStreamProc(t, command(t, "map", "--via", queue, "--replicas", "3", "--records", "10", "--block", "16KiB", "-j", "16"), mr)
	t.Cleanup(func() { mw.Close() })
	pipes, inputs = append(pipes, mw), append(inputs, mapIn)
	half := func(i int) int { return bytes.IndexByte(inputs[i][len(inputs[i])/2:], '\n') + len(inputs[i])/2 + 1 }
	written := make(chan error, len(pipes))
	for i := range pipes {
		go func() {
			_, err := pipes[i].Write(inputs[i][:half(i)])
			written <- err
		}()
	}
	for range pipes {
		select {
		case err := <-written:
			if err != nil {
				t.Fatal(err)
			}
		case <-pubs[0].done:
			t.Fatalf("pub exited early: %s", pubs[0].stderr.String())
		case <-pubs[1].done:
			t.Fatalf("pub exited early: %s", pubs[1].stderr.String())
		case <-mapper.done:
			t.Fatalf("map exited early: %s", mapper.stderr.String())
		}
	}
	watch := startStreamProc(t, command(t, "sub", "--follow", addr), nil)
	watch.waitLines(t, n/2)   // records are flowing
	mapper.waitLines(t, 2000) // and chunks
	var leader *relay.Server
	pollFor(t, "the streams' leaders", func() bool {
		most := 0
		for _, r := range rs {
			led := 0
			for _, s := range []string{"clu", "FARPIPE_WORK_cluq", "FARPIPE_RESULT_cluq"} {
				if r.NATS().JetStreamIsStreamLeader("$G", s) {
					led++
				}
			}
			if led > most {
				leader, most = r, led
			}
		}
		return leader != nil
	})
	leader.Shutdown(context.Background())
	errs := make(chan error, len(pipes))
	for i := range pipes {
		go func() {
			_, err := pipes[i].Write(inputs[i][half(i):])
			pipes[i].Close()
			errs <- err
		}()
	}
	for range pipes {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(3 * time.Minute): // the cleanups close the pipes
			t.Fatalf("the second half of the input was not read within 3 minutes; pub: %s / %s; map: %s",
				pubs[0].stderr.String(), pubs[1].stderr.String(), mapper.stderr.String())
		}
	}
	for _, p := range pubs {
		if code, _ := p.wait(t); code != 0 {
			t.Fatalf("%v exited %d with a node down: %s", p.cmd.Args, code, p.stderr.String())
		}
	}
	if code, out := mapper.wait(t); code != 0 || !bytes.Equal(out, mapIn) {
		t.Fatalf("map --via exited %d with a node down, %d bytes of %d, same: %v; stderr: %s\nworkers: %s | %s | %s",
			code, len(out), len(mapIn), bytes.Equal(out, mapIn), mapper.stderr.String(), workers[0].stderr, workers[1].stderr, workers[2].stderr)
	}
	s := start(t, command(t, "sub", "--label", addr), nil)()
	if s.code != 0 {
		t.Fatalf("sub exited %d: %s", s.code, s.stderr)
	}
	if fault := brokertest.CheckLabeled(s.stdout, ids, n); fault != "" {
		t.Fatalf("%s; pub said: %s / %s", fault, pubs[0].stderr.String(), pubs[1].stderr.String())
	}
}
