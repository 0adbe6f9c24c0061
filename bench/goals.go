package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// rssLimit is the most memory a farpipe process may use.
const rssLimit = 64 << 20

// verdict is how one goal fared.
type verdict struct {
	goal    string // what was asked
	outcome string // PASS, FAIL or SKIP, or INFO for a figure that is not a goal
	detail  string // what was measured
}

// goals checks the performance goals: farpipe within 10% of the ceiling
// and ahead of its peers, with and without encryption, its memory and its
// round trip.
func (r *results) goals() []verdict {
	var out []verdict
	for _, t := range r.tools {
		if !t.farpipe {
			continue
		}
		out = append(out,
			r.ratioGoal(t, fmt.Sprintf("%s ≥ 0.90× %s", t.label, ceilingLabel(t.kind)), 0.90, ceilingOf(t.kind)),
			r.ratioGoal(t, fmt.Sprintf("%s ≥ %.2f× %s", t.label, rivalMargin(t.kind), rivalLabels(t.kind)), rivalMargin(t.kind), rivalsOf(t.kind)))
		switch {
		case t.kind == plain && r.measured(verifiedCeiling):
			// gocopy --verify makes the same checks and nothing else.
			out = append(out,
				r.ratioGoal(t, t.label+" ≥ 0.95× gocopy --verify", 0.95, verifiedCeiling),
				r.cpuGoal(t, fmt.Sprintf("%s CPU/GiB ≤ %.2f× gocopy --verify", t.label, cpuMargin), cpuMargin, verifiedCeiling))
		case t.kind == encrypted:
			v := r.cpuGoal(t, t.label+" CPU/GiB ÷ gocopy --tls (no goal)", 0, ceilingOf(encrypted))
			v.outcome = "INFO"
			out = append(out, v)
		}
	}
	out = append(out, r.memoryGoal())
	if r.latency != nil {
		out = append(out, latencyGoal(r.latency))
	}
	return out
}

// measured reports whether any tool sel picks has a measurement.
func (r *results) measured(sel selector) bool {
	for _, d := range r.data {
		if r.bestMedian(d, sel) > 0 {
			return true
		}
	}
	return false
}

// cpuMargin is the most CPU per GiB farpipe --no-encrypt may spend,
// relative to gocopy --verify, which makes the same checks.
const cpuMargin = 1.10

// rivalMargin is how far ahead of its peers farpipe of kind k must be.
func rivalMargin(k kind) float64 {
	if k == plain {
		return 1.10
	}
	return 1.15
}

// ratioGoal checks, on every data set, that t's median throughput is at
// least bar times the best median of the tools sel picks. The detail also
// gives the range of the same ratio taken round by round.
func (r *results) ratioGoal(t tool, goal string, bar float64, sel selector) verdict {
	v := verdict{goal: goal, outcome: "PASS"}
	var parts []string
	for _, d := range r.data {
		m, base := r.summary(t.name, d).median, r.bestMedian(d, sel)
		if m == 0 || base == 0 {
			parts = append(parts, d+" not measured")
			v.outcome = "SKIP"
			continue
		}
		q := m / base
		part := fmt.Sprintf("%s %.2f×", d, q)
		if rr := r.roundRatios(t, d, sel); len(rr) > 1 {
			part += fmt.Sprintf(" (rounds %.2f–%.2f)", slices.Min(rr), slices.Max(rr))
		}
		parts = append(parts, part)
		if q < bar && v.outcome == "PASS" {
			v.outcome = "FAIL"
		}
	}
	v.detail = strings.Join(parts, ", ")
	return v
}

// cpuGoal checks, on every data set, that t's median CPU seconds per GiB
// (both ends) is at most bar times the lowest median of the tools sel
// picks. The detail also gives the range of the same ratio taken round by
// round.
func (r *results) cpuGoal(t tool, goal string, bar float64, sel selector) verdict {
	v := verdict{goal: goal, outcome: "PASS"}
	var parts []string
	for _, d := range r.data {
		m, base := r.summary(t.name, d).cpuPerGiB, r.lowestCPU(d, sel)
		if m == 0 || base == 0 {
			parts = append(parts, d+" not measured")
			v.outcome = "SKIP"
			continue
		}
		q := m / base
		part := fmt.Sprintf("%s %.2f× (%.2f vs %.2f s)", d, q, m, base)
		if rr := r.roundCPURatios(t, d, sel); len(rr) > 1 {
			part += fmt.Sprintf(" (rounds %.2f–%.2f)", slices.Min(rr), slices.Max(rr))
		}
		parts = append(parts, part)
		if q > bar && v.outcome == "PASS" {
			v.outcome = "FAIL"
		}
	}
	v.detail = strings.Join(parts, ", ")
	return v
}

// lowestCPU is the lowest median CPU per GiB with data among the tools sel
// picks whose CPU time is known, or 0 when there is none.
func (r *results) lowestCPU(data string, sel selector) float64 {
	low := 0.0
	for _, t := range r.tools {
		if c := r.summary(t.name, data).cpuPerGiB; sel(t) && c > 0 && (low == 0 || c < low) {
			low = c
		}
	}
	return low
}

// roundCPURatios are, for each round, t's CPU per GiB with data divided by
// the lowest among the tools sel picks in the same round.
func (r *results) roundCPURatios(t tool, data string, sel selector) []float64 {
	perGiB := func(x sample) float64 { return x.cpu / (float64(x.bytes) / (1 << 30)) }
	var out []float64
	for _, mine := range r.get(t.name, data).samples {
		low := 0.0
		for _, o := range r.tools {
			if !sel(o) {
				continue
			}
			for _, x := range r.get(o.name, data).samples {
				if c := perGiB(x); x.round == mine.round && c > 0 && (low == 0 || c < low) {
					low = c
				}
			}
		}
		if low > 0 && mine.cpu > 0 {
			out = append(out, perGiB(mine)/low)
		}
	}
	return out
}

// memoryGoal checks every farpipe process's peak resident memory.
func (r *results) memoryGoal() verdict {
	v := verdict{goal: fmt.Sprintf("peak RSS ≤ %d MiB per farpipe process", rssLimit>>20), outcome: "SKIP", detail: "farpipe not measured"}
	var peak int64
	for _, t := range r.tools {
		for _, d := range r.data {
			s := r.summary(t.name, d)
			if !t.farpipe || s.runs == 0 {
				continue
			}
			for _, side := range []struct {
				name string
				rss  int64
			}{{"send", s.sendRSS}, {"recv", s.recvRSS}} {
				if side.rss >= peak {
					peak = side.rss
					v.detail = fmt.Sprintf("highest %s MiB (%s %s, %s)", mib(peak), t.label, side.name, d)
				}
			}
		}
	}
	switch {
	case peak == 0:
	case peak <= rssLimit:
		v.outcome = "PASS"
	default:
		v.outcome = "FAIL"
	}
	return v
}

// writeGoals prints one line per goal.
func writeGoals(w io.Writer, vs []verdict) {
	fmt.Fprintln(w, "goals (a ratio goal passes only if every data set meets it)")
	for _, v := range vs {
		fmt.Fprintf(w, "  %-4s  %-54s %s\n", v.outcome, v.goal, v.detail)
	}
}
