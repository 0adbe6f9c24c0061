package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dustin/go-humanize"
)

// dataDesc says where the bytes of each data set come from.
var dataDesc = map[string]string{
	"zeros":  "head -c SIZE /dev/zero",
	"random": "cat of a file of random bytes in tmpfs, repeated",
}

// writeReport prints the tables of every data set, the goals and the notes.
func (r *results) writeReport(w io.Writer, notes []string) {
	fmt.Fprintf(w, "farpipe bench: %s (%d bytes) per transfer, %s of each tool, interleaved; both ends on this machine (loopback)\n",
		humanize.IBytes(uint64(r.size)), r.size, plural(r.runs, "run"))
	if r.rev != "" {
		fmt.Fprintf(w, "farpipe %s built with %s; %d CPUs; load average %s before the transfers, %s after\n",
			r.rev, r.goVersion, r.cpus, r.loadBefore, r.load)
	}
	for _, d := range r.data {
		fmt.Fprintln(w)
		r.writeTable(w, d)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "× ceiling: to gocopy (plain tools) or gocopy --tls (encrypted ones); × best peer: to the best of mbuffer/socat (plain) or to ssh (encrypted)")
	fmt.Fprintln(w, "GB/s: 10^9 bytes/s, median and min–max over the runs; CPU: user+system seconds of both ends per GiB; RSS: highest peak of each end")
	fmt.Fprintln(w)
	if r.latency != nil {
		writeLatency(w, r.latency)
		fmt.Fprintln(w)
	}
	writeGoals(w, r.goals())
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
}

// writeTable prints one line per tool for data set d.
func (r *results) writeTable(w io.Writer, d string) {
	fmt.Fprintf(w, "%s (%s)\n", d, dataDesc[d])
	fmt.Fprintf(w, "%-22s  %6s  %11s  %9s  %11s  %9s  %17s\n",
		"tool", "GB/s", "min–max", "× ceiling", "× best peer", "CPU s/GiB", "RSS send/recv MiB")
	for _, t := range r.tools {
		s := r.summary(t.name, d)
		fails := len(r.get(t.name, d).failed)
		if s.runs == 0 {
			why := "not measured"
			if fails > 0 {
				why = fmt.Sprintf("all %d runs failed", fails)
			}
			fmt.Fprintf(w, "%-22s  %6s  (%s)\n", t.label, "-", why)
			continue
		}
		ceil, best := r.bestMedian(d, ceilingOf(t.kind)), r.bestMedian(d, rivalsOf(t.kind))
		cpu, rss := "-", "-"
		if t.usage {
			cpu = fmt.Sprintf("%.2f", s.cpuPerGiB)
		}
		if s.sendRSS > 0 {
			rss = fmt.Sprintf("%s / %s", mib(s.sendRSS), mib(s.recvRSS))
		}
		line := fmt.Sprintf("%-22s  %6.2f  %11s  %9s  %11s  %9s  %17s",
			t.label, s.median, fmt.Sprintf("%.2f–%.2f", s.min, s.max), ratio(s.median, ceil), ratio(s.median, best), cpu, rss)
		if fails > 0 {
			line += fmt.Sprintf("  (%d of %d runs failed)", fails, fails+s.runs)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// ratio formats a/b as "0.93×", or "-" when b is unknown.
func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// mib formats a byte count in MiB with one decimal.
func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// plural is "1 run" or "3 runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// logf prints a progress line on standard error.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "farpipe bench: "+format+"\n", args...)
}
