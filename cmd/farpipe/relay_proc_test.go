package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// The relays of the end-to-end tests are real processes: Debian's
// nats-server, or farpipe relay (this binary). This file starts, kills and
// restarts them, waits until they are ready or clustered, and records what
// passes between a farpipe process and its relay.

// natsServerPath is where Debian's nats-server package installs the server.
const natsServerPath = "/usr/sbin/nats-server"

// natsServer returns the path of Debian's nats-server, failing the test
// (not skipping it) when it is not installed: CI must run these tests.
func natsServer(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat(natsServerPath); err == nil {
		return natsServerPath
	}
	t.Fatalf("nats-server is not installed: .ci/run installs it; here run: apt-get update && apt-get install -y nats-server")
	return ""
}

// A relayKind is a relay program: how to run it and the line it prints
// when it is ready.
type relayKind struct {
	name  string
	ready string // a substring of the line that says the relay is ready
	args  func(t *testing.T, r *relayProc) []string
}

// natsServerKind is Debian's nats-server, an external NATS server.
func natsServerKind(t *testing.T) relayKind {
	bin := natsServer(t)
	return relayKind{name: "nats-server", ready: "Server is ready", args: func(t *testing.T, r *relayProc) []string {
		a := []string{bin, "-a", r.host, "-p", strconv.Itoa(r.port)}
		if r.clusterPort != 0 {
			a = append(a, "--cluster_name", "farpipe-test",
				"--cluster", "nats://"+net.JoinHostPort(r.host, strconv.Itoa(r.clusterPort)))
			if len(r.routes) > 0 {
				a = append(a, "--routes", strings.Join(r.routes, ","))
			}
		}
		return a
	}}
}

// farpipeRelayKind is farpipe relay, the embedded relay of this binary.
func farpipeRelayKind() relayKind {
	return relayKind{name: "farpipe relay", ready: "farpipe: relay ready", args: func(t *testing.T, r *relayProc) []string {
		a := []string{os.Args[0], "relay", "--listen", net.JoinHostPort(r.host, strconv.Itoa(r.port)), "--store", r.store}
		if r.clusterPort != 0 {
			a = append(a, "--cluster", net.JoinHostPort(r.host, strconv.Itoa(r.clusterPort)))
			if len(r.routes) > 0 {
				a = append(a, "--routes", strings.Join(r.routes, ","))
			}
		}
		return a
	}}
}

// A relayProc is one relay process, which the test may kill and start
// again on the same ports. It is killed when the test ends.
type relayProc struct {
	t           *testing.T
	kind        relayKind
	netns       string // run in this network namespace, if set
	host        string // the address it listens at
	port        int    // the client port
	clusterPort int    // the route port, 0 without a cluster
	routes      []string
	store       string // a directory for the relay's store, if it has one

	cmd    *exec.Cmd
	out    *watchedOutput
	exited chan struct{} // closed when cmd has exited
}

// newRelay returns a relay of kind on loopback, on free ports, not yet
// started.
func newRelay(t *testing.T, kind relayKind, cluster bool) *relayProc {
	t.Helper()
	r := newRelayAt(t, kind, "", "127.0.0.1", freePort(t))
	if cluster {
		r.clusterPort = freePort(t)
	}
	return r
}

// newRelayAt returns a relay of kind listening at host:port in network
// namespace netns (or this process's, if ""), not yet started.
func newRelayAt(t *testing.T, kind relayKind, netns, host string, port int) *relayProc {
	r := &relayProc{t: t, kind: kind, netns: netns, host: host, port: port, store: t.TempDir()}
	t.Cleanup(r.kill) // before the store is removed
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(freeAddr(t))
	n, _ := strconv.Atoi(p)
	return n
}

// errPortTaken is start's error when another process took the relay's
// port between choosing and binding it.
var errPortTaken = errors.New("a port of the relay is taken")

// start starts the relay and waits until it says it is ready; it fails the
// test if it exits or is not ready within 30 s.
func (r *relayProc) start() {
	r.t.Helper()
	if err := r.tryStart(); err != nil {
		r.t.Fatal(err)
	}
}

// startFresh starts the relay like start, on other free ports if another
// process took the ones chosen (they are free only until someone binds
// them).
func (r *relayProc) startFresh() {
	r.t.Helper()
	for range 3 {
		err := r.tryStart()
		if !errors.Is(err, errPortTaken) {
			if err != nil {
				r.t.Fatal(err)
			}
			return
		}
		r.port = freePort(r.t)
		if r.clusterPort != 0 {
			r.clusterPort = freePort(r.t)
		}
	}
	r.t.Fatalf("%s: its ports were taken three times", r.kind.name)
}

func (r *relayProc) tryStart() error {
	args := r.kind.args(r.t, r)
	if r.netns != "" {
		args = append([]string{"ip", "netns", "exec", r.netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "FARPIPE_RUN_MAIN=1")
	out := &watchedOutput{changed: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", r.kind.name, err)
	}
	exited := make(chan struct{})
	go func() { // owned by kill, which waits for exited
		cmd.Wait()
		close(exited)
	}()
	r.cmd, r.out, r.exited = cmd, out, exited
	if _, err := out.waitLine(r.kind.ready, 30*time.Second, exited); err != nil {
		r.kill()
		if strings.Contains(out.String(), "address already in use") {
			return fmt.Errorf("%s on port %d: %w", r.kind.name, r.port, errPortTaken)
		}
		return fmt.Errorf("%s %v is not ready: %v; its output:\n%s", r.kind.name, args, err, out.String())
	}
	return nil
}

// kill kills the relay (SIGKILL: no goodbye to its clients) and waits
// until it has exited.
func (r *relayProc) kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// url is the relay address of pipe name at this relay.
func (r *relayProc) url(name string) string {
	return "nats://" + net.JoinHostPort(r.host, strconv.Itoa(r.port)) + "/" + name
}

// clientURL is the NATS URL of the relay's client port.
func (r *relayProc) clientURL() string {
	return "nats://" + net.JoinHostPort(r.host, strconv.Itoa(r.port))
}

// cluster starts n relays of kind clustered on loopback, each routed to all
// the others, and waits until a message published at any of them reaches a
// subscriber at any other.
func cluster(t *testing.T, kind relayKind, n int) []*relayProc {
	t.Helper()
	rs := make([]*relayProc, n)
	for i := range rs {
		rs[i] = newRelay(t, kind, true)
	}
	for i, r := range rs {
		for j, o := range rs {
			if i != j {
				r.routes = append(r.routes, "nats://"+net.JoinHostPort(o.host, strconv.Itoa(o.clusterPort)))
			}
		}
	}
	for _, r := range rs {
		r.start()
	}
	awaitMesh(t, rs)
	return rs
}

// awaitMesh waits, up to 30 s, until interest registered at each relay is
// known at every other one: a request sent at relay j reaches a responder
// subscribed at relay i.
func awaitMesh(t *testing.T, rs []*relayProc) {
	t.Helper()
	ncs := make([]*natsgo.Conn, len(rs))
	for i, r := range rs {
		nc, err := natsgo.Connect(r.clientURL(), natsgo.NoReconnect())
		if err != nil {
			t.Fatalf("connecting to relay %d: %v", i+1, err)
		}
		defer nc.Close()
		ncs[i] = nc
		sub, err := nc.Subscribe(fmt.Sprintf("farpipe-test.mesh.%d", i), func(m *natsgo.Msg) { m.Respond(nil) })
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		nc.Flush()
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := range rs {
		for j := range rs {
			for {
				_, err := ncs[j].Request(fmt.Sprintf("farpipe-test.mesh.%d", i), nil, time.Second)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the relays did not form a cluster within 30 s: relay %d does not reach relay %d: %v\nrelay %d's output:\n%s",
						j+1, i+1, err, i+1, rs[i].out.String())
				}
				time.Sleep(50 * time.Millisecond) // polls the route's state; nothing to wait on
			}
		}
	}
}

// awaitInterest waits, up to 30 s, until relay r knows of a subscriber to
// subject (at any relay of its cluster): a request there no longer fails
// for want of responders. The request holds no farpipe message: a farpipe
// listener refuses it without making a connection.
func awaitInterest(t *testing.T, r *relayProc, subject string) {
	t.Helper()
	nc, err := natsgo.Connect(r.clientURL(), natsgo.NoReconnect())
	if err != nil {
		t.Fatalf("connecting to %s: %v", r.clientURL(), err)
	}
	defer nc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := nc.Request(subject, []byte("farpipe test: is anybody there?"), time.Second)
		if !errors.Is(err, natsgo.ErrNoResponders) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not know of a subscriber to %s within 30 s", r.clientURL(), subject)
		}
		time.Sleep(20 * time.Millisecond) // polls the route's state; nothing to wait on
	}
}

// watchedOutput collects a process's output and lets a test wait for a
// line of it.
type watchedOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed, and replaced, on each write
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitLine waits up to d for a whole line containing sub and returns it;
// it gives up when exited is closed first.
func (w *watchedOutput) waitLine(sub string, d time.Duration, exited <-chan struct{}) (string, error) {
	timeout := time.After(d)
	for {
		w.mu.Lock()
		s, ch := w.buf.String(), w.changed
		w.mu.Unlock()
		for _, line := range strings.SplitAfter(s, "\n") {
			if strings.HasSuffix(line, "\n") && strings.Contains(line, sub) {
				return strings.TrimSuffix(line, "\n"), nil
			}
		}
		select {
		case <-ch:
		case <-exited:
			// Take what it wrote before it exited.
			exited = nil
			w.mu.Lock()
			done := w.buf.String() == s
			w.mu.Unlock()
			if done {
				return "", fmt.Errorf("the process exited before printing %q", sub)
			}
		case <-timeout:
			return "", fmt.Errorf("no line with %q within %v", sub, d)
		}
	}
}

// A recorder is a TCP proxy in front of a relay that records every byte
// passing through it, each direction of each connection on its own.
type recorder struct {
	ln      net.Listener
	to      string
	wg      sync.WaitGroup
	mu      sync.Mutex // guards the fields below
	closed  bool
	conns   []net.Conn
	streams []*bytes.Buffer
}

// newRecorder starts a recording proxy to addr on loopback; it stops when
// the test ends.
func newRecorder(t *testing.T, addr string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recorder{ln: ln, to: addr}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// addr is the proxy's address, host:port.
func (p *recorder) addr() string { return p.ln.Addr().String() }

func (p *recorder) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		up, down := new(bytes.Buffer), new(bytes.Buffer)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns = append(p.conns, c, s)
		p.streams = append(p.streams, up, down)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.copy(s, c, up)
		go p.copy(c, s, down)
	}
}

// copy copies from src to dst, recording into rec, until either fails;
// then it closes both.
func (p *recorder) copy(dst, src net.Conn, rec *bytes.Buffer) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			rec.Write(buf[:n])
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// recorded returns a copy of everything that passed so far, one stream of
// bytes per direction and connection.
func (p *recorder) recorded() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]byte
	for _, b := range p.streams {
		out = append(out, bytes.Clone(b.Bytes()))
	}
	return out
}

func (p *recorder) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
