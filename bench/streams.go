//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
)

// The streams part (go run ./bench -part streams) measures streams and
// worker pools on a `farpipe relay` on loopback (its embedded JetStream),
// in interleaved rounds on one file of ~100-byte lines:
//
//   - farpipe pub then farpipe sub of the file, beside jscopy pub then
//     jscopy sub (bench/cmd/jscopy: a minimal nats.go JetStream publisher
//     and consumer with the same message size, messages in flight and
//     acknowledgements);
//   - farpipe map --via the relay with two local `farpipe worker -j 1 --
//     cat`, beside local `farpipe map -j 2 -- cat`, and beside the nats
//     copier of the relay part moving the file once through the relay
//     with nothing stored: the least any path through the relay costs,
//     which map --via pays twice (chunks out, results back);
//
// the peak RSS of pub, sub, worker and map on those runs; then the latency
// of a record from pub's standard input to a following sub's standard
// output at 1,000 records/s.

// streamGoals are the ratios the part checks.
const (
	pubSubBar = 0.8 // farpipe pub+sub ≥ this × jscopy pub+sub
	viaBar    = 0.5 // map --via ≥ this × local map -j 2
)

// Latency goals and rate.
const (
	latencyRate   = 1000 // records per second
	latencySecs   = 10   // measured
	latencyWarmup = 500  // records sent first and not counted
	latencyMedian = 2 * time.Millisecond
	latencyP99    = 20 * time.Millisecond
)

// streamLines are the measured lines of the part, in report order.
var streamLines = []string{"farpipe pub", "farpipe sub", "farpipe pub+sub", "jscopy pub", "jscopy sub", "jscopy pub+sub",
	"map --via, 2 workers cat", "map -j 2 cat (local)", "pipe | map --via, 2 workers", "pipe | map -j 2 cat (local)",
	copyLine}

// copyLine is the nats copier's line (natsCopy).
const copyLine = "nats copier, one way"

// rssProgs are the programs whose peak RSS the part checks.
var rssProgs = []string{"pub", "sub", "worker", "map --via", "map (local)"}

// streamBench is the state of the streams part.
type streamBench struct {
	h        *harness
	jscopy   string
	natscopy string
	relay    *relayProc
	file     string
	size     int64
	secs     map[string][]float64
	rss      map[string]int64 // peak over the runs, by program (rssProgs)
	notes    []string
}

func runStreamsPart(ctx context.Context, cfg *config) error {
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
	sb := &streamBench{h: h, jscopy: filepath.Join(h.tmp, "jscopy"), natscopy: filepath.Join(h.tmp, "natscopy"), size: cfg.size,
		secs: map[string][]float64{}, rss: map[string]int64{}}
	for bin, pkg := range map[string]string{sb.jscopy: "./bench/cmd/jscopy", sb.natscopy: "./bench/cmd/natscopy"} {
		if err := goBuild(ctx, root, bin, pkg); err != nil {
			return err
		}
	}
	if h.haveTime = missing([]string{timeBin}) == ""; !h.haveTime {
		sb.notes = append(sb.notes, timeBin+" is not installed: no memory figures")
	}
	rb := &relayBench{h: h}
	if !hasCommand(ctx, h.farpipe, "relay") {
		return fmt.Errorf("farpipe bench: this farpipe has no relay command: the streams part needs one")
	}
	if sb.relay, err = rb.startRelay(ctx, "streams"); err != nil {
		return err
	}
	defer sb.relay.proc.stop()
	sb.file = filepath.Join(cfg.tmpfs, "farpipe-bench-stream-lines")
	logf("writing %s of ~100-byte lines to %s", humanize.IBytes(uint64(cfg.size)), sb.file)
	if _, err := writeLines(sb.file, cfg.size); err != nil {
		return err
	}
	defer os.Remove(sb.file)
	load := loadAverage()
	for round := 1; round <= cfg.runs; round++ {
		for _, step := range []func(context.Context, int) error{sb.pubSub, sb.jsPubSub, sb.mapVia, sb.mapLocal, sb.mapViaPipe, sb.mapLocalPipe, sb.natsCopy} {
			if ctx.Err() != nil {
				return fmt.Errorf("farpipe bench: interrupted: %v", ctx.Err())
			}
			if err := step(ctx, round); err != nil {
				logf("run %d FAILED: %v", round, err)
				sb.notes = append(sb.notes, fmt.Sprintf("run %d: %v", round, err))
			}
		}
	}
	loadMid := loadAverage()
	lat, latErr := sb.latency(ctx)
	fmt.Println()
	fmt.Printf("farpipe bench -part streams: %s of ~100-byte lines in %s, %s, interleaved; relay: %s at %s\n",
		humanize.IBytes(uint64(cfg.size)), cfg.tmpfs, plural(cfg.runs, "run"), sb.relay.kind, sb.relay.url)
	fmt.Printf("farpipe %s built with %s; %d CPUs; load average %s before, %s after the throughput runs, %s at the end\n\n",
		h.rev, runtime.Version(), runtime.NumCPU(), load, loadMid, loadAverage())
	sb.writeReport(os.Stdout, lat, latErr)
	for _, n := range sb.notes {
		fmt.Printf("note: %s\n", n)
	}
	fmt.Printf("harness run time: %s\n", time.Since(began).Round(time.Second))
	return nil
}

// proc runs argv (under GNU time when it is installed) with standard
// input from the file in (or none) and counts its standard output. It
// returns the seconds it took, its peak RSS and the bytes it wrote.
func (sb *streamBench) proc(ctx context.Context, role string, in string, argv ...string) (float64, int64, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, sb.h.cfg.timeout)
	defer cancel()
	c, out, err := sb.start(ctx, role, in, argv...)
	if err != nil {
		return 0, 0, 0, err
	}
	began := time.Now()
	if err := c.wait(); err != nil {
		return 0, 0, 0, err
	}
	secs := time.Since(began).Seconds()
	_, rss, err := c.usage()
	return secs, rss, out.Load(), err
}

// start starts argv as proc does, without waiting.
func (sb *streamBench) start(ctx context.Context, role string, in string, argv ...string) (*child, *atomic.Int64, error) {
	sb.h.trials++
	usage := ""
	if sb.h.haveTime {
		usage = filepath.Join(sb.h.tmp, fmt.Sprintf("usage-%d", sb.h.trials))
		argv = timed(usage, argv)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if in != "" {
		f, err := os.Open(strings.TrimPrefix(in, "|"))
		if err != nil {
			return nil, nil, fmt.Errorf("farpipe bench: %v", err)
		}
		if strings.HasPrefix(in, "|") {
			// A pipe that the harness fills (exec's goroutine copies the
			// file into it): map reads it as it reads any producer.
			cmd.Stdin = struct{ io.Reader }{f}
			c, out, err := sb.startCmd(role, cmd, usage)
			if err != nil {
				f.Close()
				return nil, nil, err
			}
			go func() { // the copy ends with the child; owned by it
				<-c.done
				f.Close()
			}()
			return c, out, nil
		}
		defer f.Close() // the child has its own descriptor once started
		cmd.Stdin = f
	}
	return sb.startCmd(role, cmd, usage)
}

// startCmd starts cmd and counts its standard output.
func (sb *streamBench) startCmd(role string, cmd *exec.Cmd, usage string) (*child, *atomic.Int64, error) {
	out := &atomic.Int64{}
	cmd.Stdout = counter{out}
	c, err := startChild(role, cmd)
	if err != nil {
		return nil, nil, err
	}
	c.usageFile = usage
	return c, out, nil
}

// innerPID is the process c runs: GNU time's child when it wraps it.
func innerPID(c *child) int {
	pid := c.cmd.Process.Pid
	if c.usageFile == "" {
		return pid
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n
		}
	}
	return 0
}

// counter counts the bytes written to it.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// record keeps a run's seconds and a program's peak RSS.
func (sb *streamBench) record(line string, secs float64, prog string, rss int64) {
	if line != "" {
		sb.secs[line] = append(sb.secs[line], secs)
	}
	if prog != "" {
		sb.rss[prog] = max(sb.rss[prog], rss)
	}
}

// checkSize fails a run whose output is not the input's size.
func (sb *streamBench) checkSize(what string, n int64) error {
	if n != sb.size {
		return fmt.Errorf("%s wrote %d bytes, want %d", what, n, sb.size)
	}
	return nil
}

// pubSub publishes the file with farpipe pub to a new stream, then reads
// it with farpipe sub; the stream is deleted after.
func (sb *streamBench) pubSub(ctx context.Context, round int) error {
	addr := sb.relay.url + "/fp" + strconv.Itoa(round)
	defer sb.rm(ctx, "fp"+strconv.Itoa(round))
	ps, prss, _, err := sb.proc(ctx, "pub", sb.file, sb.h.farpipe, "pub", addr)
	if err != nil {
		return err
	}
	ss, srss, n, err := sb.proc(ctx, "sub", "", sb.h.farpipe, "sub", addr)
	if err == nil {
		err = sb.checkSize("farpipe sub", n)
	}
	if err != nil {
		return err
	}
	sb.record("farpipe pub", ps, "pub", prss)
	sb.record("farpipe sub", ss, "sub", srss)
	sb.record("farpipe pub+sub", ps+ss, "", 0)
	logf("run %d farpipe pub %.2f s + sub %.2f s (load %s)", round, ps, ss, loadAverage())
	return nil
}

// jsPubSub is pubSub with jscopy.
func (sb *streamBench) jsPubSub(ctx context.Context, round int) error {
	name := "js" + strconv.Itoa(round)
	defer sb.rm(ctx, name)
	args := []string{"--server", sb.relay.url, "--stream", name}
	ps, _, _, err := sb.proc(ctx, "jscopy pub", sb.file, append([]string{sb.jscopy, "pub"}, args...)...)
	if err != nil {
		return err
	}
	ss, _, n, err := sb.proc(ctx, "jscopy sub", "", append([]string{sb.jscopy, "sub"}, args...)...)
	if err == nil {
		err = sb.checkSize("jscopy sub", n)
	}
	if err != nil {
		return err
	}
	sb.record("jscopy pub", ps, "", 0)
	sb.record("jscopy sub", ss, "", 0)
	sb.record("jscopy pub+sub", ps+ss, "", 0)
	logf("run %d jscopy pub %.2f s + sub %.2f s (load %s)", round, ps, ss, loadAverage())
	return nil
}

// natsCopy moves the file once through the relay with the relay part's
// nats copier (core NATS, farpipe's message size, nothing stored): sub
// first, then pub, which exits once sub has confirmed the checksum; pub's
// time is the line's.
func (sb *streamBench) natsCopy(ctx context.Context, round int) error {
	args := []string{"--server", sb.relay.url, "--subject", "copy" + strconv.Itoa(round), "--msg", strconv.Itoa(farpipeNatsMsg)}
	sub, out, err := sb.start(ctx, "natscopy sub", "", append([]string{sb.natscopy, "sub"}, args...)...)
	if err != nil {
		return err
	}
	secs, _, _, err := sb.proc(ctx, "natscopy pub", sb.file, append([]string{sb.natscopy, "pub"}, args...)...)
	if err != nil {
		sub.stop()
		return err
	}
	if err := sub.wait(); err != nil {
		return err
	}
	if err := sb.checkSize("natscopy sub", out.Load()); err != nil {
		return err
	}
	sb.record(copyLine, secs, "", 0)
	logf("run %d nats copier %.2f s (load %s)", round, secs, loadAverage())
	return nil
}

// rm deletes a stream of the relay.
func (sb *streamBench) rm(ctx context.Context, name string) {
	if out, err := exec.CommandContext(ctx, sb.jscopy, "rm", "--server", sb.relay.url, "--stream", name).CombinedOutput(); err != nil {
		logf("deleting stream %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
}

// mapVia runs map --via a new queue of the relay with two local workers
// of one slot running cat; the workers are stopped after.
func (sb *streamBench) mapVia(ctx context.Context, round int) error {
	return sb.viaRun(ctx, round, sb.file, "/q", "map --via, 2 workers cat")
}

// viaRun runs map --via on in (a file, or "|" and a file for a pipe) and
// records it as line.
func (sb *streamBench) viaRun(ctx context.Context, round int, in, queue, line string) error {
	addr := sb.relay.url + queue + strconv.Itoa(round)
	var workers []*child
	defer func() {
		for _, w := range workers {
			// Read before the stop: GNU time dies with its process group.
			sb.record("", 0, "worker", procHWM(innerPID(w)))
			w.stop()
		}
	}()
	for range 2 {
		w, _, err := sb.start(context.Background(), "worker", "", sb.h.farpipe, "worker", "-j", "1", addr, "--", "cat")
		if err != nil {
			return err
		}
		workers = append(workers, w)
	}
	secs, rss, n, err := sb.proc(ctx, "map --via", in, sb.h.farpipe, "map", "--via", addr)
	if err == nil {
		err = sb.checkSize("map --via", n)
	}
	if err != nil {
		return err
	}
	sb.record(line, secs, "map --via", rss)
	logf("run %d %s: %.2f s (load %s)", round, line, secs, loadAverage())
	return nil
}

// mapLocal runs farpipe map -j 2 -- cat.
func (sb *streamBench) mapLocal(ctx context.Context, round int) error {
	secs, rss, n, err := sb.proc(ctx, "map", sb.file, sb.h.farpipe, "map", "-j", "2", "--", "cat")
	if err == nil {
		err = sb.checkSize("map -j 2", n)
	}
	if err != nil {
		return err
	}
	sb.record("map -j 2 cat (local)", secs, "map (local)", rss)
	logf("run %d map -j 2 cat: %.2f s (load %s)", round, secs, loadAverage())
	return nil
}

// mapViaPipe is mapVia with the file through a pipe.
func (sb *streamBench) mapViaPipe(ctx context.Context, round int) error {
	return sb.viaRun(ctx, round, "|"+sb.file, "/pq", "pipe | map --via, 2 workers")
}

// mapLocalPipe is mapLocal with the file through a pipe.
func (sb *streamBench) mapLocalPipe(ctx context.Context, round int) error {
	secs, rss, n, err := sb.proc(ctx, "map", "|"+sb.file, sb.h.farpipe, "map", "-j", "2", "--", "cat")
	if err == nil {
		err = sb.checkSize("map -j 2", n)
	}
	if err != nil {
		return err
	}
	sb.record("pipe | map -j 2 cat (local)", secs, "map (local)", rss)
	logf("run %d pipe | map -j 2 cat: %.2f s (load %s)", round, secs, loadAverage())
	return nil
}

// latency sends latencyRate records a second into farpipe pub for
// latencySecs and reads them from a farpipe sub --follow, each record
// carrying the time it was written; it returns the delays, sorted.
func (sb *streamBench) latency(ctx context.Context) ([]time.Duration, error) {
	addr := sb.relay.url + "/lat"
	defer sb.rm(ctx, "lat")
	logf("latency: %d records/s for %d s through %s", latencyRate, latencySecs, addr)
	if err := exec.CommandContext(ctx, sb.h.farpipe, "pub", addr).Run(); err != nil { // makes the stream
		return nil, fmt.Errorf("making the stream: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, latencySecs*time.Second+time.Minute)
	defer cancel()
	sub := exec.CommandContext(ctx, sb.h.farpipe, "sub", "--follow", addr)
	subOut, err := sub.StdoutPipe()
	if err != nil {
		return nil, err
	}
	subc, err := startChild("sub --follow", sub)
	if err != nil {
		return nil, err
	}
	defer subc.stop()
	pub := exec.CommandContext(ctx, sb.h.farpipe, "pub", addr)
	pubIn, err := pub.StdinPipe()
	if err != nil {
		return nil, err
	}
	pubc, err := startChild("pub", pub)
	if err != nil {
		return nil, err
	}
	base := time.Now()
	total := latencyWarmup + latencyRate*latencySecs
	wrote := make(chan error, 1)
	var writeErr error
	waited := false
	defer func() {
		pubc.stop() // a write to pub then fails, and the writer returns
		if !waited {
			<-wrote
		}
	}()
	go func() { // waited for below
		pad := strings.Repeat("x", 70)
		every := time.Second / latencyRate
		var err error
		for i := 0; i < total && err == nil; i++ {
			time.Sleep(time.Until(base.Add(time.Duration(i) * every)))
			_, err = fmt.Fprintf(pubIn, "%d %d %s\n", i, time.Since(base).Nanoseconds(), pad)
		}
		pubIn.Close()
		wrote <- err
	}()
	var delays []time.Duration
	sc := bufio.NewScanner(subOut)
	for got := 0; got < total && sc.Scan(); got++ {
		var i int
		var at int64
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &i, &at); err != nil {
			return nil, fmt.Errorf("sub wrote %q", sc.Text())
		}
		if i >= latencyWarmup {
			delays = append(delays, time.Since(base)-time.Duration(at))
		}
	}
	writeErr, waited = <-wrote, true
	if writeErr != nil {
		return nil, fmt.Errorf("writing to pub: %v", writeErr)
	}
	if len(delays) != total-latencyWarmup {
		return nil, fmt.Errorf("sub wrote %d of the %d records%s", len(delays), total-latencyWarmup, subc.stderr.suffix())
	}
	slices.Sort(delays)
	return delays, nil
}

// quantile is the q-th quantile of sorted ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func (sb *streamBench) writeReport(w io.Writer, lat []time.Duration, latErr error) {
	fmt.Fprintf(w, "%-28s  %8s  %13s  %10s\n", "line", "median s", "min–max s", "rate")
	rate := func(line string) float64 {
		if m := median(sb.secs[line]); m > 0 {
			return float64(sb.size) / m
		}
		return 0
	}
	for _, l := range streamLines {
		ss := sb.secs[l]
		if len(ss) == 0 {
			fmt.Fprintf(w, "%-28s  (every run failed)\n", l)
			continue
		}
		fmt.Fprintf(w, "%-28s  %8.2f  %13s  %5.0f MB/s\n", l, median(ss), fmt.Sprintf("%.2f–%.2f", slices.Min(ss), slices.Max(ss)), rate(l)/1e6)
	}
	fmt.Fprintf(w, "\npeak RSS:")
	for _, p := range rssProgs {
		if r, ok := sb.rss[p]; ok && r > 0 {
			fmt.Fprintf(w, "  %s %s MiB", p, mib(r))
		}
	}
	fmt.Fprintln(w)
	if latErr != nil {
		fmt.Fprintf(w, "latency: failed: %v\n", latErr)
	} else {
		fmt.Fprintf(w, "latency pub → sub --follow at %d records/s, %d records: median %s, p90 %s, p99 %s, max %s\n",
			latencyRate, len(lat), ms(quantile(lat, 0.5)), ms(quantile(lat, 0.9)), ms(quantile(lat, 0.99)), ms(lat[len(lat)-1]))
	}
	fmt.Fprintln(w, "\ngoals")
	ratio := func(goal, a, b string, bar float64) {
		outcome, detail := "SKIP", "not measured"
		if ra, rb := rate(a), rate(b); ra > 0 && rb > 0 {
			outcome, detail = "PASS", fmt.Sprintf("%.2f× (per run: %s)", ra/rb, sb.roundRatios(a, b))
			if ra/rb < bar {
				outcome = "FAIL"
			}
		}
		fmt.Fprintf(w, "  %-4s  %-52s %s\n", outcome, goal, detail)
	}
	ratio(fmt.Sprintf("farpipe pub+sub ≥ %.1f× jscopy pub+sub", pubSubBar), "farpipe pub+sub", "jscopy pub+sub", pubSubBar)
	ratio(fmt.Sprintf("map --via, 2 workers ≥ %.1f× map -j 2 (local)", viaBar), "map --via, 2 workers cat", "map -j 2 cat (local)", viaBar)
	ratio(fmt.Sprintf("the same from a pipe ≥ %.1f×", viaBar), "pipe | map --via, 2 workers", "pipe | map -j 2 cat (local)", viaBar)
	info := func(what, a, b string) {
		if ra, rb := rate(a), rate(b); ra > 0 && rb > 0 {
			fmt.Fprintf(w, "  INFO  %-52s %.2f× (per run: %s)\n", what, ra/rb, sb.roundRatios(a, b))
		}
	}
	// What any path through the relay could reach: map --via moves every
	// byte through it twice.
	info("nats copier one way ÷ map -j 2 (local) (no goal)", copyLine, "map -j 2 cat (local)")
	info("map --via, 2 workers ÷ nats copier one way (no goal)", "map --via, 2 workers cat", copyLine)
	for _, g := range []struct {
		goal  string
		q     float64
		limit time.Duration
	}{{"latency median ≤ " + ms(latencyMedian), 0.5, latencyMedian}, {"latency p99 ≤ " + ms(latencyP99), 0.99, latencyP99}} {
		outcome, detail := "SKIP", "not measured"
		if latErr == nil {
			outcome, detail = "PASS", ms(quantile(lat, g.q))
			if quantile(lat, g.q) > g.limit {
				outcome = "FAIL"
			}
		}
		fmt.Fprintf(w, "  %-4s  %-52s %s\n", outcome, g.goal, detail)
	}
	for _, p := range rssProgs {
		outcome, detail := "SKIP", "not measured"
		if r := sb.rss[p]; r > 0 {
			outcome, detail = "PASS", mib(r)+" MiB"
			if r > rssLimit {
				outcome = "FAIL"
			}
		}
		fmt.Fprintf(w, "  %-4s  %-52s %s\n", outcome, fmt.Sprintf("peak RSS of %s ≤ %d MiB", p, rssLimit>>20), detail)
	}
	fmt.Fprintln(w)
}

// roundRatios is a's rate over b's, run by run, as "x.xx–y.yy×".
func (sb *streamBench) roundRatios(a, b string) string {
	sa, sbb := sb.secs[a], sb.secs[b]
	var rs []float64
	for i := 0; i < len(sa) && i < len(sbb); i++ {
		rs = append(rs, sbb[i]/sa[i])
	}
	if len(rs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f–%.2f×", slices.Min(rs), slices.Max(rs))
}
