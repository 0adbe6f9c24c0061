//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The relay part (go run ./bench -part relay) measures pipes through a
// NATS relay on loopback: farpipe through the relay beside the direct
// farpipe TLS pipe, a minimal nats.go copier through the same relay (the
// ceiling for anything on NATS) and croc through its own relay, all in
// the same interleaved rounds; then the relay's peak memory under ten
// pipes at once and the short codes' latencies.

// farpipeNatsMsg is the message size of farpipe's nats transport
// (transport/nats's maxData, less the room of its header with a server's
// default max_payload of 1 MiB): the nats copier line with this size is
// the ceiling the goal compares with. Its window is the transport's too,
// 8 MiB (defaultWindow). The 256 KiB line is the copier's fastest here, and
// the report gives farpipe's ratio to it too.
const farpipeNatsMsg = 1 << 20

// natsCopiers are the nats copier lines: the message size and the
// stream's checksum (natscopy --sum). CRC-32C is farpipe's own stream
// checksum and costs about 0.04 CPU s/GiB here; SHA-256 costs 0.7 s/GiB
// on each end (1.5 GB/s with SHA-NI), which on 2 CPUs makes that copier
// slower than farpipe itself: it is a line to compare, not the ceiling.
var natsCopiers = []struct {
	msg int
	sum string
}{{64 << 10, "crc32c"}, {256 << 10, "crc32c"}, {1 << 20, "crc32c"}, {256 << 10, "sha256"}}

// relayPeerNames are the lines --peers chooses from in the relay part.
var relayPeerNames = []string{"farpipe-tls", "farpipe-relay", "natscopy-64k", "natscopy-256k", "natscopy-1024k", "natscopy-256k-sha256", "croc"}

// relayBench is the state of the relay part beside the harness's.
type relayBench struct {
	h        *harness
	natscopy string // the natscopy binary
	relay    *relayProc
	croc     *crocPeer // nil when croc is skipped
	// natsTransport says whether this tree has transport/nats, so that
	// farpipe takes nats:// addresses; why says why not.
	natsTransport bool
	why           string
}

// relayProc is a relay process the part started.
type relayProc struct {
	proc *child
	url  string // nats://127.0.0.1:PORT
	port int
	kind string // "farpipe relay" or "natscopy serve (embedded nats-server)"
}

// runRelayPart is the relay part: build, start the relays, measure,
// report.
func runRelayPart(ctx context.Context, cfg *config) error {
	began := time.Now()
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	h, err := newHarness(ctx, cfg, root)
	if err != nil {
		return err
	}
	defer h.close()
	rb := &relayBench{h: h, natscopy: filepath.Join(h.tmp, "natscopy")}
	if err := goBuild(ctx, root, rb.natscopy, "./bench/cmd/natscopy"); err != nil {
		return err
	}
	rb.natsTransport, rb.why = hasNatsTransport(root)
	if h.haveTime = missing([]string{timeBin}) == ""; !h.haveTime {
		h.note("%s is not installed: no memory figures (apt-get install time, or go run ./bench --install)", timeBin)
	}
	if rb.relay, err = rb.startRelay(ctx, "throughput"); err != nil {
		return err
	}
	defer rb.relay.proc.stop()
	h.note("relay: %s at %s", rb.relay.kind, rb.relay.url)
	rb.choosePeers(ctx)
	if err := h.makeData(); err != nil {
		return err
	}
	if rb.croc != nil {
		if err := rb.croc.writeFile(ctx, h.data[0]); err != nil {
			h.note("skipped croc: %v", err)
			rb.dropPeer("croc")
		}
		defer rb.croc.close()
	}
	rb.smokeTest(ctx)
	if len(h.peers) == 0 {
		return errors.New("farpipe bench: no line left to measure: " + strings.Join(h.notes, "; "))
	}
	res := rb.measure(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("farpipe bench: interrupted: %v", err)
	}
	rb.relay.proc.stop()
	rel := &relayResults{results: res, relayKind: rb.relay.kind}
	rel.memory = rb.measureLoad(ctx)
	rel.codes = rb.measureCodes(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("farpipe bench: interrupted: %v", err)
	}
	fmt.Println()
	rel.writeReport(os.Stdout, h.notes)
	fmt.Printf("harness run time: %s\n", time.Since(began).Round(time.Second))
	return nil
}

// goBuild builds pkg (relative to root) into out.
func goBuild(ctx context.Context, root, out, pkg string) error {
	logf("go build -o %s %s", out, pkg)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("farpipe bench: go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// hasNatsTransport reports whether the tree has transport/nats, and if
// not, why the farpipe relay lines cannot run.
func hasNatsTransport(root string) (bool, string) {
	if fi, err := os.Stat(filepath.Join(root, "transport", "nats")); err == nil && fi.IsDir() {
		return true, ""
	}
	return false, "this tree has no transport/nats, so farpipe does not take nats:// addresses yet"
}

// startRelay starts `farpipe relay` on a free loopback port if this
// farpipe has that command, or else natscopy's embedded nats-server, and
// waits until it listens.
func (rb *relayBench) startRelay(ctx context.Context, what string) (*relayProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := loopback(port)
	r := &relayProc{url: "nats://" + addr, port: port}
	var argv []string
	if hasCommand(ctx, rb.h.farpipe, "relay") {
		store, err := os.MkdirTemp(rb.h.tmp, "relay-store-")
		if err != nil {
			return nil, fmt.Errorf("farpipe bench: %v", err)
		}
		r.kind = "farpipe relay"
		argv = []string{rb.h.farpipe, "relay", "--listen", addr, "--store", store}
	} else {
		r.kind = "natscopy serve (embedded nats-server; this farpipe has no relay command)"
		argv = []string{rb.natscopy, "serve", "--listen", addr}
	}
	// The relay runs for the whole part, not under a trial's timeout.
	cmd := exec.CommandContext(context.Background(), argv[0], argv[1:]...)
	if r.proc, err = startChild("relay", cmd); err != nil {
		return nil, err
	}
	if err := waitListening(ctx, port, r.proc); err != nil {
		r.proc.stop()
		return nil, fmt.Errorf("farpipe bench: the relay for the %s lines: %w", what, err)
	}
	return r, nil
}

// hasCommand reports whether farpipe has the subcommand cmd: its help
// shows the usage line "farpipe CMD ..." (for an unknown command,
// farpipe prints its own help and exits 0 as well).
func hasCommand(ctx context.Context, farpipe, cmd string) bool {
	out, err := exec.CommandContext(ctx, farpipe, cmd, "--help").Output()
	return err == nil && regexp.MustCompile(`(?m)^\s+farpipe `+cmd+`( |$)`).Match(out)
}

// choosePeers keeps the requested relay-part lines that can run, and
// notes why any other is skipped.
func (rb *relayBench) choosePeers(ctx context.Context) {
	h := rb.h
	for _, p := range rb.catalog() {
		if !containsName(h.cfg.peers, p.name) {
			continue
		}
		if p.name == "farpipe-relay" && !rb.natsTransport {
			h.note("skipped farpipe via relay (TLS): not available: %s", rb.why)
			continue
		}
		if p.name == "croc" {
			c, err := prepareCroc(ctx, h)
			if err != nil {
				h.note("skipped croc: %v", err)
				continue
			}
			rb.croc = c
			p.run = c.trial
		}
		h.peers = append(h.peers, p)
	}
}

// smokeTest moves 32 MiB through every line but croc (which always sends
// its whole file) and drops the lines that fail.
func (rb *relayBench) smokeTest(ctx context.Context) {
	const size = 32 << 20
	h := rb.h
	kept := h.peers[:0]
	for _, p := range h.peers {
		if p.run == nil {
			if _, err := h.trial(ctx, p, zeros(size), size); err != nil {
				h.note("skipped %s: it failed a %d MiB trial transfer: %v", p.label, size>>20, err)
				continue
			}
		}
		kept = append(kept, p)
	}
	h.peers = kept
}

// dropPeer removes the line called name.
func (rb *relayBench) dropPeer(name string) {
	kept := rb.h.peers[:0]
	for _, p := range rb.h.peers {
		if p.name != name {
			kept = append(kept, p)
		}
	}
	rb.h.peers = kept
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// catalog is every line of the relay part, in the order of relayPeerNames.
func (rb *relayBench) catalog() []*peer {
	h := rb.h
	token := []string{"FARPIPE_TOKEN=" + h.token}
	name := func() string { return "bench" + strconv.Itoa(h.trials) } // unique per transfer
	peers := []*peer{
		{
			tool: tool{name: "farpipe-tls", label: "farpipe (TLS) direct", kind: encrypted, farpipe: true, usage: true},
			recv: withAddr(h.farpipe, "recv", "--quiet", "--listen"),
			send: withAddr(h.farpipe, "send", "--wait", "10s"),
			env:  token,
		},
		{
			tool:     tool{name: "farpipe-relay", label: "farpipe via relay (TLS)", kind: encrypted, farpipe: true, usage: true},
			dialsOut: true,
			recv: func(int) []string {
				return []string{h.farpipe, "recv", "--quiet", "--listen", rb.relay.url + "/" + name()}
			},
			send: func(int) []string {
				return []string{h.farpipe, "send", "--wait", "10s", rb.relay.url + "/" + name()}
			},
			env: token,
		},
	}
	for _, c := range natsCopiers {
		id, label := "natscopy-"+strconv.Itoa(c.msg>>10)+"k", "nats copier "+strconv.Itoa(c.msg>>10)+" KiB"
		if c.sum != "crc32c" {
			id, label = id+"-"+c.sum, label+" "+c.sum
		}
		args := func(verb string) []string {
			return []string{rb.natscopy, verb, "--server", rb.relay.url, "--subject", name(), "--msg", strconv.Itoa(c.msg), "--sum", c.sum}
		}
		peers = append(peers, &peer{
			tool:     tool{name: id, label: label, kind: plain, usage: true},
			dialsOut: true,
			recv:     func(int) []string { return args("sub") },
			send:     func(int) []string { return args("pub") },
		})
	}
	return append(peers, &peer{
		tool: tool{name: "croc", label: "croc (own relay)", kind: encrypted, usage: true},
	})
}

// measure runs every line with every data set, interleaved, and records
// the relay's CPU time around each transfer.
func (rb *relayBench) measure(ctx context.Context) *results {
	h := rb.h
	var tools []tool
	for _, p := range h.peers {
		tools = append(tools, p.tool)
	}
	var names []string
	for _, d := range h.data {
		names = append(names, d.name)
	}
	res := newResults(h.cfg.size, h.cfg.runs, tools, names)
	res.rev, res.goVersion = h.rev, runtime.Version()
	res.cpus, res.loadBefore = runtime.NumCPU(), loadAverage()
	defer func() { res.load = loadAverage() }()
	total, i := h.cfg.runs*len(h.data)*len(h.peers), 0
	for round := 1; round <= h.cfg.runs; round++ {
		for _, d := range h.data {
			for _, p := range h.peers {
				if ctx.Err() != nil {
					return res
				}
				i++
				s, err := rb.trial(ctx, p, d)
				if err != nil {
					res.fail(p.name, d.name, err.Error())
					logf("[%2d/%d] run %d %-6s %-24s FAILED: %v (load %s)", i, total, round, d.name, p.label, err, loadAverage())
					continue
				}
				s.round = round
				res.add(p.name, d.name, s)
				logf("[%2d/%d] run %d %-6s %-24s %6.3f GB/s in %6.2f s (load %s)", i, total, round, d.name, p.label, s.gbps(), s.seconds, loadAverage())
			}
		}
	}
	return res
}

// trial moves the data set d through p once, with the relay's CPU time
// (the nats relay's, or croc's own relay's) counted around it.
func (rb *relayBench) trial(ctx context.Context, p *peer, d *dataset) (sample, error) {
	relayPID := 0
	switch {
	case p.run != nil && rb.croc != nil:
		relayPID = rb.croc.relay.cmd.Process.Pid
	case p.dialsOut:
		relayPID = rb.relay.proc.cmd.Process.Pid
	}
	before := procCPU(relayPID)
	var s sample
	var err error
	if p.run != nil {
		s, err = p.run(ctx, d, rb.h.cfg.size)
	} else {
		s, err = rb.h.trial(ctx, p, d.producer, rb.h.cfg.size)
	}
	if err == nil && relayPID != 0 {
		s.relayCPU = procCPU(relayPID) - before
	}
	return s, err
}

// procCPU is the user+system CPU seconds of process pid so far, from
// /proc/PID/stat, or 0 if unknown.
func procCPU(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procHWM is the peak resident memory (VmHWM) of process pid in bytes, or
// 0 if unknown.
func procHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kib, _ := strconv.ParseInt(f[0], 10, 64)
				return kib << 10
			}
		}
	}
	return 0
}
