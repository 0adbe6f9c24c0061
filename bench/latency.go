package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/roundtrip"
)

// latencyLimit is the largest ratio of farpipe's round trip to raw TCP's.
const latencyLimit = 1.5

// Messages timed per round of the latency comparison.
const latencyPerRound = 1000

// latency is the round-trip comparison of one farpipe mode.
type latency struct {
	label string
	res   roundtrip.Result
	err   error
}

// measureLatency compares, in this process, the round trip of a 64-byte
// message on a farpipe.Conn with TLS and without encryption against raw
// loopback TCP, rounds times each, interleaved.
func measureLatency(rounds int) []latency {
	var out []latency
	for _, m := range []struct {
		label string
		opts  []farpipe.Option
	}{
		{"farpipe (TLS)", nil},
		{"farpipe --no-encrypt", []farpipe.Option{farpipe.WithNoEncrypt()}},
	} {
		logf("round trips: %d rounds of %d %d-byte messages, %s and raw TCP", rounds, latencyPerRound, roundtrip.MessageSize, m.label)
		res, err := roundtrip.Compare(rounds, latencyPerRound, m.opts...)
		out = append(out, latency{label: m.label, res: res, err: err})
	}
	return out
}

// writeLatency prints the round-trip table.
func writeLatency(w io.Writer, ls []latency) {
	if len(ls) == 0 {
		return
	}
	fmt.Fprintf(w, "round trip of a %d-byte message, both ends in one process, beside raw loopback TCP (TCP_NODELAY), interleaved\n", roundtrip.MessageSize)
	fmt.Fprintf(w, "%-22s  %8s  %8s  %6s  %s\n", "tool", "µs", "TCP µs", "ratio", "rounds")
	for _, l := range ls {
		if l.err != nil {
			fmt.Fprintf(w, "%-22s  (failed: %v)\n", l.label, l.err)
			continue
		}
		fmt.Fprintf(w, "%-22s  %8.1f  %8.1f  %5.2f×  %.2f–%.2f×\n", l.label,
			float64(l.res.Farpipe.Nanoseconds())/1e3, float64(l.res.TCP.Nanoseconds())/1e3,
			l.res.Ratio(), slices.Min(l.res.Ratios), slices.Max(l.res.Ratios))
	}
	fmt.Fprintln(w, "µs: median over the rounds of the mean round trip; ratio: of the medians")
}

// latencyGoal checks that every farpipe mode's round trip is within
// latencyLimit of raw TCP's.
func latencyGoal(ls []latency) verdict {
	v := verdict{goal: fmt.Sprintf("%d-byte round trip ≤ %.2f× raw TCP", roundtrip.MessageSize, latencyLimit), outcome: "SKIP", detail: "not measured"}
	var parts []string
	for _, l := range ls {
		if l.err != nil {
			v.outcome = "FAIL"
			parts = append(parts, l.label+" failed")
			continue
		}
		if v.outcome == "SKIP" {
			v.outcome = "PASS"
		}
		if l.res.Ratio() > latencyLimit {
			v.outcome = "FAIL"
		}
		parts = append(parts, fmt.Sprintf("%s %.2f×", l.label, l.res.Ratio()))
	}
	if len(parts) > 0 {
		v.detail = strings.Join(parts, ", ")
	}
	return v
}
