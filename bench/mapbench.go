//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// The map part (go run ./bench -part map) measures farpipe map against GNU
// parallel, xargs and plain pipelines: each case is a shell command line
// run whole, timed from start to exit, the cases interleaved round by round.

// mapCase is one command line of the map part.
type mapCase struct {
	group   string // cat, wc or tiny: the cases compared with each other
	label   string
	script  string // for sh -c; FILE, FP and TIME are replaced
	jobs    int    // tiny: how many jobs the line runs
	farpipe bool   // its memory is measured (TIME wraps farpipe)
	count   bool   // its output is line counts, summed and checked
}

// mapCases are the lines measured; tiny is the job count of the tiny-job
// lines (GNU parallel gets a tenth: at 3-10 ms a job it would take minutes).
func mapCases(tiny int) []mapCase {
	t, pt := strconv.Itoa(tiny), strconv.Itoa(tiny/10)
	return []mapCase{
		{group: "cat", label: "farpipe map -j2 cat", script: `TIME FP map -j 2 -- cat < FILE > /dev/null`, farpipe: true},
		{group: "cat", label: "parallel --pipe -j2 cat", script: `parallel --will-cite --pipe -j2 cat < FILE > /dev/null`},
		{group: "cat", label: "cat FILE | cat", script: `cat FILE | cat > /dev/null`},
		{group: "wc", label: "farpipe map -j2 wc -l", script: `TIME FP map -j 2 -- wc -l < FILE`, farpipe: true, count: true},
		{group: "wc", label: "parallel --pipepart wc -l", script: `parallel --will-cite --pipepart -a FILE --block 1M -j2 wc -l`, count: true},
		{group: "wc", label: "cat FILE | wc -l", script: `cat FILE | wc -l`, count: true},
		{group: "tiny", label: "farpipe map --records 1 true", script: `seq ` + t + ` | TIME FP map --records 1 -j 2 -- true`, jobs: tiny, farpipe: true},
		{group: "tiny", label: "parallel -j2 true", script: `seq ` + pt + ` | parallel --will-cite -j2 true`, jobs: tiny / 10},
		{group: "tiny", label: "xargs -P2 -n1 true", script: `seq ` + t + ` | xargs -P2 -n1 true`, jobs: tiny},
	}
}

// mapSample is one run of a case.
type mapSample struct {
	seconds float64
	rss     int64 // farpipe's peak resident memory, bytes
}

// runMapPart is the map part: make the file, run the cases, report.
func runMapPart(ctx context.Context, cfg *config) error {
	began := time.Now()
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	if cfg.install {
		if err := installPeers(ctx); err != nil {
			return err
		}
	}
	h, err := newHarness(ctx, cfg, root)
	if err != nil {
		return err
	}
	defer h.close()
	var cases []mapCase
	var notes []string
	for _, c := range mapCases(cfg.tinyJobs) {
		prog := strings.Fields(strings.NewReplacer("TIME ", "", "seq "+strconv.Itoa(c.jobs)+" | ", "").Replace(c.script))[0]
		if prog != "FP" && missing([]string{prog}) != "" {
			notes = append(notes, fmt.Sprintf("skipped %s: %s is not installed (apt-get install parallel, or go run ./bench -part map --install)", c.label, prog))
			continue
		}
		cases = append(cases, c)
	}
	haveTime := missing([]string{timeBin}) == ""
	if !haveTime {
		notes = append(notes, timeBin+" is not installed: no memory figures")
	}
	file := filepath.Join(cfg.tmpfs, "farpipe-bench-lines")
	logf("writing %s of ~100-byte lines to %s", humanize.IBytes(uint64(cfg.mapSize)), file)
	lines, err := writeLines(file, cfg.mapSize)
	if err != nil {
		return err
	}
	defer os.Remove(file)

	samples := map[string][]mapSample{}
	load := loadAverage()
	for round := 1; round <= cfg.runs; round++ {
		for _, c := range cases {
			if ctx.Err() != nil {
				return fmt.Errorf("farpipe bench: interrupted: %v", ctx.Err())
			}
			s, err := h.runMapCase(ctx, c, file, lines, haveTime)
			if err != nil {
				logf("run %d %-30s FAILED: %v", round, c.label, err)
				notes = append(notes, fmt.Sprintf("%s, run %d, failed: %v", c.label, round, err))
				continue
			}
			samples[c.label] = append(samples[c.label], s)
			logf("run %d %-30s %6.2f s", round, c.label, s.seconds)
		}
	}
	fmt.Println()
	fmt.Printf("farpipe bench -part map: %s of ~100-byte lines (%d lines) in %s, %s, interleaved; tiny jobs: %d (GNU parallel: %d)\n",
		humanize.IBytes(uint64(cfg.mapSize)), lines, cfg.tmpfs, plural(cfg.runs, "run"), cfg.tinyJobs, cfg.tinyJobs/10)
	fmt.Printf("farpipe %s built with %s; %d CPUs; load average %s before, %s after\n\n", h.rev, runtime.Version(), runtime.NumCPU(), load, loadAverage())
	writeMapReport(os.Stdout, cases, samples, cfg.mapSize)
	for _, n := range notes {
		fmt.Printf("note: %s\n", n)
	}
	fmt.Printf("harness run time: %s\n", time.Since(began).Round(time.Second))
	return nil
}

// runMapCase runs one case once.
func (h *harness) runMapCase(ctx context.Context, c mapCase, file string, lines int64, haveTime bool) (mapSample, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.timeout)
	defer cancel()
	h.trials++
	usage := filepath.Join(h.tmp, fmt.Sprintf("usage-%d", h.trials))
	timeCmd := ""
	if haveTime && c.farpipe {
		timeCmd = timeBin + " -f %M -o " + usage
	}
	script := strings.NewReplacer("TIME", timeCmd, "FP", h.farpipe, "FILE", file).Replace(c.script)
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	var out bytes.Buffer
	var errb tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	if err := cmd.Run(); err != nil {
		return mapSample{}, fmt.Errorf("%v: %s", err, errb.suffix())
	}
	s := mapSample{seconds: time.Since(began).Seconds()}
	if c.count {
		var sum int64
		for _, f := range strings.Fields(out.String()) {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return s, fmt.Errorf("a count %q in the output", f)
			}
			sum += n
		}
		if sum != lines {
			return s, fmt.Errorf("counted %d lines, want %d", sum, lines)
		}
	}
	if timeCmd != "" {
		b, err := os.ReadFile(usage)
		if err != nil {
			return s, err
		}
		f := strings.Fields(string(b))
		if kib, err := strconv.ParseInt(f[len(f)-1], 10, 64); err == nil {
			s.rss = kib << 10
		}
	}
	return s, nil
}

// writeLines writes size bytes of lines of 60 to 140 lowercase letters
// and spaces (100 on average) and returns how many lines there are.
func writeLines(path string, size int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("farpipe bench: %v", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyz     "
	line := make([]byte, 0, 160)
	var n, lines int64
	for n < size {
		l := 60 + r.IntN(81)
		if rest := size - n; int64(l) >= rest {
			l = int(rest) - 1
		}
		line = line[:0]
		for i := 0; i < l; i++ {
			line = append(line, alphabet[r.IntN(len(alphabet))])
		}
		line = append(line, '\n')
		w.Write(line)
		n += int64(len(line))
		lines++
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("farpipe bench: %v", err)
	}
	// Read it once: the runs find it in the page cache.
	if _, err := f.Seek(0, io.SeekStart); err == nil {
		io.Copy(io.Discard, f)
	}
	return lines, nil
}

// mapGoal is one goal of the map part: farpipe's rate at least bar times
// the other's, as a ratio of medians.
type mapGoal struct {
	mine, other string
	bar         float64
}

var mapGoals = []mapGoal{
	{"farpipe map -j2 cat", "parallel --pipe -j2 cat", 5},
	{"farpipe map -j2 cat", "cat FILE | cat", 0.7},
	{"farpipe map -j2 wc -l", "parallel --pipepart wc -l", 5},
	{"farpipe map -j2 wc -l", "cat FILE | wc -l", 1.0},
	{"farpipe map --records 1 true", "parallel -j2 true", 2},
	{"farpipe map --records 1 true", "xargs -P2 -n1 true", 0.8},
}

// rate is the median rate of a case: bytes/s, or jobs/s for tiny jobs.
func rate(c mapCase, ss []mapSample, size int64) float64 {
	var secs []float64
	for _, s := range ss {
		secs = append(secs, s.seconds)
	}
	m := median(secs)
	if m == 0 {
		return 0
	}
	if c.jobs > 0 {
		return float64(c.jobs) / m
	}
	return float64(size) / m
}

func writeMapReport(w io.Writer, cases []mapCase, samples map[string][]mapSample, size int64) {
	byLabel := map[string]mapCase{}
	fmt.Fprintf(w, "%-30s  %8s  %13s  %14s  %9s\n", "command", "median s", "min–max s", "rate", "peak RSS")
	var peak int64
	for _, c := range cases {
		byLabel[c.label] = c
		ss := samples[c.label]
		if len(ss) == 0 {
			fmt.Fprintf(w, "%-30s  (every run failed)\n", c.label)
			continue
		}
		var secs []float64
		var rss int64
		for _, s := range ss {
			secs = append(secs, s.seconds)
			rss = max(rss, s.rss)
		}
		r := rate(c, ss, size)
		rs := fmt.Sprintf("%.2f GB/s", r/1e9)
		if c.jobs > 0 {
			rs = fmt.Sprintf("%.0f jobs/s", r)
		}
		mem := "-"
		if rss > 0 {
			mem = mib(rss) + " MiB"
			if c.jobs == 0 {
				peak = max(peak, rss)
			}
		}
		fmt.Fprintf(w, "%-30s  %8.2f  %13s  %14s  %9s\n", c.label, median(secs), fmt.Sprintf("%.2f–%.2f", slices.Min(secs), slices.Max(secs)), rs, mem)
	}
	fmt.Fprintln(w, "\ngoals (ratios of median rates)")
	for _, g := range mapGoals {
		a, b := byLabel[g.mine], byLabel[g.other]
		ra, rb := rate(a, samples[g.mine], size), rate(b, samples[g.other], size)
		outcome, detail := "SKIP", "not measured"
		if ra > 0 && rb > 0 {
			outcome, detail = "PASS", fmt.Sprintf("%.2f×", ra/rb)
			if ra/rb < g.bar {
				outcome = "FAIL"
			}
		}
		fmt.Fprintf(w, "  %-4s  %-62s %s\n", outcome, fmt.Sprintf("%s ≥ %.1f× %s", g.mine, g.bar, g.other), detail)
	}
	outcome, detail := "SKIP", "not measured"
	if peak > 0 {
		outcome, detail = "PASS", "highest "+mib(peak)+" MiB"
		if peak > rssLimit {
			outcome = "FAIL"
		}
	}
	fmt.Fprintf(w, "  %-4s  %-62s %s\n\n", outcome, fmt.Sprintf("peak RSS of map ≤ %d MiB on the %s runs", rssLimit>>20, humanize.IBytes(uint64(size))), detail)
}
