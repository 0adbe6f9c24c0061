//go:build linux

package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"
)

// relayResults is everything the relay part measured.
type relayResults struct {
	*results
	relayKind string // what relayed the throughput lines
	memory    loadResult
	codes     codeResult
}

// byName picks the tool called name.
func byName(name string) selector { return func(t tool) bool { return t.name == name } }

// relayBase names the lines the relay table compares each line with.
var relayBase = []struct{ name, head string }{
	{"farpipe-tls", "× direct"},
	{"natscopy-" + fmt.Sprint(farpipeNatsMsg>>10) + "k", "× copier"},
}

func (r *relayResults) writeReport(w io.Writer, notes []string) {
	fmt.Fprintf(w, "farpipe bench -part relay: %s (%d bytes) per transfer, %s of each line, interleaved; every process on this machine (loopback)\n",
		humanize.IBytes(uint64(r.size)), r.size, plural(r.runs, "run"))
	fmt.Fprintf(w, "farpipe %s built with %s; %d CPUs; load average %s before the transfers, %s after\n",
		r.rev, r.goVersion, r.cpus, r.loadBefore, r.load)
	fmt.Fprintf(w, "relay: %s\n", r.relayKind)
	for _, d := range r.data {
		fmt.Fprintln(w)
		r.writeRelayTable(w, d)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "× direct: to farpipe (TLS) direct; × copier: to the nats copier with farpipe's message size (%d KiB)\n", farpipeNatsMsg>>10)
	fmt.Fprintln(w, "CPU: user+system seconds of both ends per GiB; relay CPU: the relay's (croc's own for croc) per GiB; RSS: highest peak of each end")
	fmt.Fprintln(w)
	r.writeLoad(w)
	r.writeCodes(w)
	fmt.Fprintln(w)
	writeGoals(w, r.relayGoals())
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
}

func (r *relayResults) writeRelayTable(w io.Writer, d string) {
	fmt.Fprintf(w, "%s (%s)\n", d, dataDesc[d])
	fmt.Fprintf(w, "%-24s  %6s  %11s  %8s  %8s  %9s  %9s  %17s\n",
		"line", "GB/s", "min–max", relayBase[0].head, relayBase[1].head, "CPU s/GiB", "relay CPU", "RSS send/recv MiB")
	for _, t := range r.tools {
		s := r.summary(t.name, d)
		fails := len(r.get(t.name, d).failed)
		if s.runs == 0 {
			why := "not measured"
			if fails > 0 {
				why = fmt.Sprintf("all %d runs failed", fails)
			}
			fmt.Fprintf(w, "%-24s  %6s  (%s)\n", t.label, "-", why)
			continue
		}
		var rel []string
		for _, b := range relayBase {
			rel = append(rel, ratio(s.median, r.bestMedian(d, byName(b.name))))
		}
		cpu, relayCPU, rss := "-", "-", "-"
		if t.usage {
			cpu = fmt.Sprintf("%.2f", s.cpuPerGiB)
		}
		if c := r.relayCPUPerGiB(t.name, d); c > 0 {
			relayCPU = fmt.Sprintf("%.2f", c)
		}
		if s.sendRSS > 0 {
			rss = fmt.Sprintf("%s / %s", mib(s.sendRSS), mib(s.recvRSS))
		}
		line := fmt.Sprintf("%-24s  %6.3f  %11s  %8s  %8s  %9s  %9s  %17s",
			t.label, s.median, fmt.Sprintf("%.3f–%.3f", s.min, s.max), rel[0], rel[1], cpu, relayCPU, rss)
		if fails > 0 {
			line += fmt.Sprintf("  (%d of %d runs failed)", fails, fails+s.runs)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// relayCPUPerGiB is the median of the relay's CPU seconds per GiB over
// the transfers of tool t with data d, or 0 if unknown.
func (r *relayResults) relayCPUPerGiB(t, d string) float64 {
	var xs []float64
	for _, s := range r.get(t, d).samples {
		if s.relayCPU > 0 {
			xs = append(xs, s.relayCPU/(float64(s.bytes)/(1<<30)))
		}
	}
	return median(xs)
}

func (r *relayResults) writeLoad(w io.Writer) {
	l := r.memory
	fmt.Fprintf(w, "relay memory: %d pipes of %s at once, %d of them read at %.0f MB/s\n", l.pipes, humanize.IBytes(uint64(l.size)), l.paced, paceRate/1e6)
	if l.why != "" {
		fmt.Fprintf(w, "  %s\n", l.why)
		return
	}
	fmt.Fprintf(w, "  pipes: %s\n  relay: %s\n", l.with, l.relay)
	fmt.Fprintf(w, "  relay peak RSS (VmHWM) %s MiB (%s MiB before the pipes); unpaced pipes %s; paced pipes %s; %d failed; load average %s at the end\n",
		mib(l.hwm), mib(l.idle), spreadS(l.fast), spreadS(l.slow), len(l.failures), l.load)
	for _, f := range l.failures {
		fmt.Fprintf(w, "  failed: %s\n", f)
	}
}

// spreadS formats the median and range of xs in seconds.
func spreadS(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f s (%.1f–%.1f)", median(xs), slices.Min(xs), slices.Max(xs))
}

func (r *relayResults) writeCodes(w io.Writer) {
	c := r.codes
	fmt.Fprintln(w, "short codes: from starting `farpipe send --relay` to its printed code, and from starting `farpipe recv CODE` to its first byte")
	if c.why != "" {
		fmt.Fprintf(w, "  %s\n", c.why)
		return
	}
	fmt.Fprintf(w, "  to the code: %s; to the first byte: %s; load average %s at the end\n", spreadMS(c.toCode), spreadMS(c.toByte), c.loadAfter)
	if c.line != "" {
		fmt.Fprintf(w, "  printed: %s\n", c.line)
	}
	for _, f := range c.failures {
		fmt.Fprintf(w, "  failed: %s\n", f)
	}
}

// relayGoals are issue 13's goals for the relay.
func (r *relayResults) relayGoals() []verdict {
	relay := tool{}
	for _, t := range r.tools {
		if t.name == "farpipe-relay" {
			relay = t
		}
	}
	var out []verdict
	copier := relayBase[1].name
	for _, g := range []struct {
		goal string
		bar  float64
		base string
	}{
		{"farpipe via relay ≥ 0.50× farpipe (TLS) direct", 0.5, "farpipe-tls"},
		{fmt.Sprintf("farpipe via relay ≥ 0.80× nats copier %d KiB", farpipeNatsMsg>>10), 0.8, copier},
		{"farpipe via relay ≥ 5× croc (own relay)", 5, "croc"},
	} {
		if relay.name == "" {
			out = append(out, verdict{goal: g.goal, outcome: "SKIP", detail: "farpipe via relay not measured"})
			continue
		}
		out = append(out, r.ratioGoal(relay, g.goal, g.bar, byName(g.base)))
	}
	// The copiers with other message sizes than farpipe's: the smaller ones
	// are the copier's best on some machines.
	for _, t := range r.tools {
		if relay.name != "" && strings.HasPrefix(t.name, "natscopy-") && t.name != copier && !strings.HasSuffix(t.name, "-sha256") {
			v := r.ratioGoal(relay, "farpipe via relay ÷ "+t.label+" (no goal)", 0, byName(t.name))
			v.outcome = "INFO"
			out = append(out, v)
		}
	}
	// What the relay lines could reach, whether farpipe runs through it or not.
	for _, t := range r.tools {
		if t.name == copier {
			v := r.ratioGoal(t, t.label+" ÷ croc (no goal)", 0, byName("croc"))
			v.outcome = "INFO"
			out = append(out, v)
			v = r.ratioGoal(t, t.label+" ÷ farpipe (TLS) direct (no goal)", 0, byName("farpipe-tls"))
			v.outcome = "INFO"
			out = append(out, v)
		}
	}
	out = append(out, r.loadGoal(), r.codeGoal("to the printed code", r.codes.toCode, 0.2), r.codeGoal("recv CODE to the first byte", r.codes.toByte, 0.5))
	return out
}

func (r *relayResults) loadGoal() verdict {
	l := r.memory
	v := verdict{goal: fmt.Sprintf("relay peak RSS ≤ %d MiB, %d pipes, %d paced", relayRSSLimit>>20, l.pipes, l.paced), outcome: "SKIP"}
	switch {
	case l.why != "":
		v.detail = l.why
	case l.hwm == 0:
		v.detail = "the relay's VmHWM was not readable"
	default:
		v.detail = mib(l.hwm) + " MiB"
		v.outcome = "PASS"
		if l.hwm > relayRSSLimit || len(l.failures) > 0 {
			v.outcome = "FAIL"
		}
		if len(l.failures) > 0 {
			v.detail += fmt.Sprintf(", %d pipes failed", len(l.failures))
		}
		if !strings.HasPrefix(l.with, "farpipe") {
			v.outcome, v.detail = "INFO", v.detail+" with nats copiers, not farpipe (no verdict)"
		}
	}
	return v
}

func (r *relayResults) codeGoal(what string, xs []float64, limit float64) verdict {
	v := verdict{goal: fmt.Sprintf("short code: %s ≤ %.0f ms", what, limit*1000), outcome: "SKIP"}
	switch {
	case r.codes.why != "":
		v.detail = r.codes.why
	case len(xs) == 0:
		v.outcome, v.detail = "FAIL", fmt.Sprintf("every run failed: %s", strings.Join(r.codes.failures, "; "))
	default:
		v.outcome, v.detail = "PASS", spreadMS(xs)
		if median(xs) > limit || len(r.codes.failures) > 0 {
			v.outcome = "FAIL"
		}
	}
	return v
}
