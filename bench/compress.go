//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/farpipe/farpipe/internal/faults"
)

// The compression part (go run ./bench -part compress) sends text logs
// and random data with farpipe send and recv, with and without
// --compress zstd, directly on loopback and through a 50 MB/s link (a
// bandwidth-limited forwarder, faults.Shaper), and reports the time and
// the bytes on the wire of each.

// compressLink is the bandwidth of the limited link.
const compressLink = 50e6

// compressCase is one line of the report.
type compressCase struct {
	link     string // "direct" or "50 MB/s"
	data     string // "logs" or "random"
	compress bool
}

// compressSample is one transfer.
type compressSample struct {
	secs float64
	wire int64   // stream bytes on the session (direct), or TCP bytes through the link
	cpu  float64 // user+system seconds of send and recv
}

func runCompressPart(ctx context.Context, cfg *config) error {
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
	dir, err := os.MkdirTemp(cfg.tmpfs, "farpipe-bench-compress-")
	if err != nil {
		return fmt.Errorf("farpipe bench: %v", err)
	}
	defer os.RemoveAll(dir)
	files := map[string]string{"logs": filepath.Join(dir, "logs"), "random": filepath.Join(dir, "random")}
	if err := writeLogs(files["logs"], cfg.size); err != nil {
		return err
	}
	if err := writeRandom(files["random"], cfg.size); err != nil {
		return err
	}
	var cases []compressCase
	for _, link := range []string{"direct", "50 MB/s"} {
		for _, data := range []string{"logs", "random"} {
			for _, c := range []bool{false, true} {
				cases = append(cases, compressCase{link, data, c})
			}
		}
	}
	samples := map[compressCase][]compressSample{}
	for run := range cfg.runs {
		order := slices.Clone(cases) // interleaved, run by run
		if run%2 == 1 {
			// Every other run in the reverse order, so that no case always
			// follows the same one (a heavy run's after-effects, the page
			// cache, the scheduler).
			slices.Reverse(order)
		}
		for _, c := range order {
			s, err := h.compressTrial(ctx, c, files[c.data])
			if err != nil {
				return err
			}
			logf("run %d: %s %s compress=%v: %.2f s, %s on the wire, %.2f CPU s", run+1, c.link, c.data, c.compress, s.secs, humanize.IBytes(uint64(s.wire)), s.cpu)
			samples[c] = append(samples[c], s)
		}
	}
	fmt.Println()
	writeCompressReport(os.Stdout, cases, samples, cfg.size, h.rev)
	fmt.Printf("harness run time: %s\n", time.Since(began).Round(time.Second))
	return nil
}

// sentRE and wireRE read send -v's statistics.
var (
	sentRE = regexp.MustCompile(`sent (\d+) bytes`)
	wireRE = regexp.MustCompile(`compressed with zstd: (\d+) bytes on the wire out`)
)

// compressTrial runs one transfer of file: recv --listen, then send,
// timed from send's start to its exit (every byte delivered).
func (h *harness) compressTrial(ctx context.Context, c compressCase, file string) (compressSample, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.timeout)
	defer cancel()
	port, err := freePort()
	if err != nil {
		return compressSample{}, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := append(os.Environ(), "FARPIPE_TOKEN="+h.token)
	recv := exec.CommandContext(ctx, h.farpipe, "recv", "-q", "--listen", addr)
	recv.Env = env
	if err := recv.Start(); err != nil { // stdout: /dev/null
		return compressSample{}, fmt.Errorf("farpipe bench: recv: %v", err)
	}
	recvDone := false
	defer func() {
		if !recvDone {
			cancel()
			recv.Wait()
		}
	}()
	// recv listens before send starts, so that the time is the transfer's
	// (send --wait would otherwise dial again after a backoff).
	for deadline := time.Now().Add(10 * time.Second); !listening(port); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return compressSample{}, fmt.Errorf("farpipe bench: recv did not listen on %s within 10s", addr)
		}
	}
	to := addr
	var link *faults.Shaper
	if c.link != "direct" {
		if link, err = faults.NewShaper(addr, compressLink); err != nil {
			return compressSample{}, fmt.Errorf("farpipe bench: the limited link: %v", err)
		}
		defer link.Close()
		to = link.Addr()
	}
	args := []string{"send", "-v", "--wait", "10s"}
	if c.compress {
		args = append(args, "--compress", "zstd")
	}
	in, err := os.Open(file)
	if err != nil {
		return compressSample{}, fmt.Errorf("farpipe bench: %v", err)
	}
	defer in.Close()
	fi, _ := in.Stat()
	send := exec.CommandContext(ctx, h.farpipe, append(args, to)...)
	send.Env, send.Stdin = env, in
	stderr, _ := send.StderrPipe()
	start := time.Now()
	if err := send.Start(); err != nil {
		return compressSample{}, fmt.Errorf("farpipe bench: send: %v", err)
	}
	log, _ := io.ReadAll(bufio.NewReader(stderr))
	err = send.Wait()
	secs := time.Since(start).Seconds()
	if err != nil {
		return compressSample{}, fmt.Errorf("farpipe bench: send (%v): %v: %s", c, err, log)
	}
	m := sentRE.FindSubmatch(log)
	if m == nil || string(m[1]) != strconv.FormatInt(fi.Size(), 10) {
		return compressSample{}, fmt.Errorf("farpipe bench: send (%v) did not deliver the %d bytes: %s", c, fi.Size(), log)
	}
	recvDone = true
	if err := recv.Wait(); err != nil {
		return compressSample{}, fmt.Errorf("farpipe bench: recv (%v): %v", c, err)
	}
	cpu := func(p *os.ProcessState) float64 { return (p.UserTime() + p.SystemTime()).Seconds() }
	s := compressSample{secs: secs, wire: fi.Size(), cpu: cpu(send.ProcessState) + cpu(recv.ProcessState)}
	if w := wireRE.FindSubmatch(log); w != nil {
		s.wire, _ = strconv.ParseInt(string(w[1]), 10, 64)
	}
	if link != nil {
		s.wire, _ = link.Bytes()
	}
	return s, nil
}

// writeLogs writes size bytes of lines like those of a web service's
// log: timestamps, levels, paths, status codes, latencies, addresses and
// a random request id on each line.
func writeLogs(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("farpipe bench: logs: %v", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	paths := []string{"/api/v1/items", "/api/v1/users", "/healthz", "/api/v1/orders", "/static/app.js", "/login"}
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	status := []int{200, 200, 200, 200, 201, 204, 304, 404, 500}
	t := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	var n int64
	for n < size {
		t = t.Add(time.Duration(r.IntN(5000)) * time.Microsecond)
		k, _ := fmt.Fprintf(w, "%s %-5s http: %s %s/%d status=%d bytes=%d duration=%.3fms client=10.%d.%d.%d request_id=%016x user_agent=\"Mozilla/5.0 (X11; Linux x86_64)\"\n",
			t.Format("2006-01-02T15:04:05.000000Z"), levels[r.IntN(len(levels))], methods[r.IntN(len(methods))],
			paths[r.IntN(len(paths))], r.IntN(100000), status[r.IntN(len(status))], r.IntN(200000),
			r.Float64()*250, r.IntN(4), r.IntN(256), r.IntN(256), r.Uint64())
		n += int64(k)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("farpipe bench: logs: %v", err)
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("farpipe bench: logs: %v", err)
	}
	return f.Close()
}

// writeCompressReport prints the table and the goals.
func writeCompressReport(w io.Writer, cases []compressCase, samples map[compressCase][]compressSample, size int64, rev string) {
	fmt.Fprintf(w, "farpipe %s: %s of each data set per transfer, median of %d runs, load average %s\n\n",
		rev, humanize.IBytes(uint64(size)), len(samples[cases[0]]), loadAverage())
	fmt.Fprintln(w, "| link | data | --compress | time (s) | MB/s | bytes on the wire | ratio | CPU s/GiB |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|")
	medCPU := func(c compressCase) float64 {
		cs := make([]float64, 0, len(samples[c]))
		for _, s := range samples[c] {
			cs = append(cs, s.cpu)
		}
		slices.Sort(cs)
		return cs[len(cs)/2]
	}
	med := func(c compressCase) compressSample {
		ss := slices.Clone(samples[c])
		slices.SortFunc(ss, func(a, b compressSample) int { return compareFloat(a.secs, b.secs) })
		return ss[len(ss)/2]
	}
	for _, c := range cases {
		s := med(c)
		comp := "none"
		if c.compress {
			comp = "zstd"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.0f | %s | %.2f× | %.2f |\n", c.link, c.data, comp, s.secs,
			float64(size)/s.secs/1e6, humanize.Comma(s.wire), float64(size)/float64(s.wire), medCPU(c)*float64(1<<30)/float64(size))
	}
	fmt.Fprintln(w, "\nCPU s/GiB: user+system seconds of send and recv together per GiB of input, median of the runs")
	fmt.Fprintln(w)
	get := func(link, data string, z bool) compressSample { return med(compressCase{link, data, z}) }
	ratio := float64(get("direct", "logs", false).wire) / float64(get("direct", "logs", true).wire)
	fmt.Fprintf(w, "goal: text logs take >= 3x fewer bytes on the wire: %.2fx (%s)\n", ratio, metOrNot(ratio >= 3))
	speed := get("50 MB/s", "logs", false).secs / get("50 MB/s", "logs", true).secs
	fmt.Fprintf(w, "goal: through 50 MB/s, text logs arrive >= 2x faster: %.2fx (%s)\n", speed, metOrNot(speed >= 2))
	for _, link := range []string{"direct", "50 MB/s"} {
		loss := 100 * (1 - get(link, "random", false).secs/get(link, "random", true).secs)
		fmt.Fprintf(w, "goal: random data loses <= 5%% throughput (%s): %.1f%% (%s)\n", link, loss, metOrNot(loss <= 5))
	}
	extra := 100 * (medCPU(compressCase{"direct", "random", true})/medCPU(compressCase{"direct", "random", false}) - 1)
	fmt.Fprintf(w, "info: random data, direct: --compress zstd costs %+.1f%% CPU (both ends; steadier than the times on a shared machine)\n", extra)
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func metOrNot(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
