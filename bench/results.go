package main

import (
	"slices"
)

// kind is what a tool is compared with: a plain tool with the plain
// ceiling and the best plain peer, an encrypted one with the TLS ceiling
// and ssh.
type kind int

const (
	plain kind = iota
	encrypted
)

// tool is how the report sees a measured program.
type tool struct {
	name    string // its name in --peers
	label   string // its name in tables and the chart
	kind    kind
	ceiling bool // gocopy: the ceiling of its kind
	// verified marks gocopy --verify: the ceiling for a plain tool that
	// checks every byte as farpipe --no-encrypt does (a tag per frame and
	// a checksum of the stream). farpipe --no-encrypt must come within
	// 0.95× of its throughput and 1.10× of its CPU per GiB.
	verified bool
	rival    bool // a peer the goals compare farpipe with: mbuffer and socat (plain), ssh (encrypted)
	farpipe  bool // farpipe itself: the goals and the memory limit apply
	usage    bool // both ends are the harness's children, so their CPU time and memory are known
}

// sample is one transfer.
type sample struct {
	round   int // which round of the interleaved runs it belongs to
	bytes   int64
	seconds float64
	cpu     float64 // user+system seconds of the sending and the receiving process
	sendRSS int64   // peak resident memory of the sending process, in bytes
	recvRSS int64   // the same for the receiving process
	// relayCPU is the user+system seconds of the relay the transfer went
	// through (relay part only; 0 when there is none).
	relayCPU float64
}

// gbps is the throughput in GB/s (10⁹ bytes per second).
func (s sample) gbps() float64 { return float64(s.bytes) / s.seconds / 1e9 }

// series is every transfer of one tool with one kind of data.
type series struct {
	samples []sample
	failed  []string // why each failed transfer failed
}

// summary condenses a series.
type summary struct {
	runs             int     // successful transfers
	median, min, max float64 // GB/s
	cpuPerGiB        float64 // median CPU seconds of both ends per GiB moved
	sendRSS, recvRSS int64   // highest peak over the runs, bytes
}

// summarize condenses s; runs is 0 when no transfer succeeded.
func summarize(s *series) summary {
	if s == nil || len(s.samples) == 0 {
		return summary{}
	}
	var rates, cpus []float64
	sum := summary{runs: len(s.samples)}
	for _, x := range s.samples {
		rates = append(rates, x.gbps())
		cpus = append(cpus, x.cpu/(float64(x.bytes)/(1<<30)))
		sum.sendRSS = max(sum.sendRSS, x.sendRSS)
		sum.recvRSS = max(sum.recvRSS, x.recvRSS)
	}
	sum.median, sum.min, sum.max = median(rates), slices.Min(rates), slices.Max(rates)
	sum.cpuPerGiB = median(cpus)
	return sum
}

// median is the middle value of xs, or the mean of the two middle ones.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// seriesKey names a series: a tool's name and a data set.
type seriesKey struct{ tool, data string }

// results holds every measurement of one harness run.
type results struct {
	size   int64    // bytes per transfer
	runs   int      // transfers asked of each tool with each data set
	tools  []tool   // in the order of the report
	data   []string // data set names, in the order of the report
	series map[seriesKey]*series

	rev              string // the farpipe source measured: git describe --always --dirty
	goVersion        string // the Go toolchain that built it
	cpus             int    // CPUs of this machine
	loadBefore, load string // 1-minute load average before and after the transfers

	latency []latency // round trips; nil if not measured
}

func newResults(size int64, runs int, tools []tool, data []string) *results {
	return &results{size: size, runs: runs, tools: tools, data: data, series: map[seriesKey]*series{}}
}

func (r *results) get(t, data string) *series {
	k := seriesKey{t, data}
	s := r.series[k]
	if s == nil {
		s = &series{}
		r.series[k] = s
	}
	return s
}

// add records a successful transfer.
func (r *results) add(t, data string, s sample) {
	r.get(t, data).samples = append(r.get(t, data).samples, s)
}

// fail records a failed transfer.
func (r *results) fail(t, data, why string) {
	r.get(t, data).failed = append(r.get(t, data).failed, why)
}

// summary condenses the transfers of tool t with data.
func (r *results) summary(t, data string) summary { return summarize(r.series[seriesKey{t, data}]) }

// selector picks the tools a tool is compared with.
type selector func(tool) bool

// ceilingOf picks the ceiling of kind k.
func ceilingOf(k kind) selector { return func(t tool) bool { return t.ceiling && t.kind == k } }

// verifiedCeiling picks gocopy --verify.
func verifiedCeiling(t tool) bool { return t.verified }

// rivalsOf picks the peers farpipe of kind k is compared with.
func rivalsOf(k kind) selector { return func(t tool) bool { return t.rival && t.kind == k } }

// bestMedian is the highest median throughput with data among the tools
// sel picks, or 0 when none was measured.
func (r *results) bestMedian(data string, sel selector) float64 {
	best := 0.0
	for _, t := range r.tools {
		if sel(t) {
			best = max(best, r.summary(t.name, data).median)
		}
	}
	return best
}

// roundRatios are, for each round, the throughput of t with data divided
// by the best throughput among the tools sel picks in the same round:
// ratios of transfers that ran minutes apart at most.
func (r *results) roundRatios(t tool, data string, sel selector) []float64 {
	var out []float64
	for _, mine := range r.get(t.name, data).samples {
		best := 0.0
		for _, o := range r.tools {
			if !sel(o) {
				continue
			}
			for _, x := range r.get(o.name, data).samples {
				if x.round == mine.round {
					best = max(best, x.gbps())
				}
			}
		}
		if best > 0 {
			out = append(out, mine.gbps()/best)
		}
	}
	return out
}

// rivalLabels names the peers farpipe of kind k is compared with.
func rivalLabels(k kind) string {
	if k == plain {
		return "best of mbuffer/socat"
	}
	return "ssh aes128-gcm"
}

// ceilingLabel names the ceiling of kind k.
func ceilingLabel(k kind) string {
	if k == plain {
		return "gocopy"
	}
	return "gocopy --tls"
}
