package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// source is what the hosts wrote: per host, its lines in order (line seq
// at index seq-1).
type source map[string][]string

// readSource reads each host's log file and checks that its sequence
// numbers count from 1 without a gap.
func readSource(files map[string]string) (source, error) {
	src := source{}
	for host, file := range files {
		lines, err := readLines(file)
		if err != nil {
			return nil, err
		}
		for i, l := range lines {
			h, seq, _, ok := parseLine(l)
			if !ok || h != host || seq != uint64(i+1) {
				return nil, fmt.Errorf("%s: line %d is not host %s's seq=%d: %q", file, i+1, host, i+1, l)
			}
		}
		src[host] = lines
	}
	return src, nil
}

// readLines returns a file's lines (the last one only when whole).
func readLines(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

// parseLine reads "TIME HOST seq=N LEVEL message".
func parseLine(l string) (host string, seq uint64, level string, ok bool) {
	f := strings.SplitN(l, " ", 5)
	if len(f) < 5 || !strings.HasPrefix(f[2], "seq=") {
		return "", 0, "", false
	}
	seq, err := strconv.ParseUint(f[2][4:], 10, 64)
	return f[1], seq, f[3], err == nil
}

// lineTime is when the line was written.
func lineTime(l string) (time.Time, bool) {
	ts, _, _ := strings.Cut(l, " ")
	t, err := time.Parse("2006-01-02T15:04:05.000000Z", ts)
	return t, err == nil
}

// count is the lines of the source a sink should hold, with a filter.
func (src source) count(keep func(level string) bool) (n int, bytes int64) {
	for _, lines := range src {
		for _, l := range lines {
			if _, _, level, _ := parseLine(l); keep(level) {
				n++
				bytes += int64(len(l)) + 1
			}
		}
	}
	return n, bytes
}

// verdict is what a sink holds, measured against the source.
type verdict struct {
	lines, bytes                int
	missing, dups, alien, order int
	firstProblems               []string
}

func (v *verdict) problem(format string, args ...any) {
	if len(v.firstProblems) < 5 {
		v.firstProblems = append(v.firstProblems, fmt.Sprintf(format, args...))
	}
}

func (v verdict) ok() bool { return v.missing+v.dups+v.alien+v.order == 0 }

func (v verdict) String() string {
	if v.ok() {
		return fmt.Sprintf("%d lines, each line of each host once, in each host's order: PASS", v.lines)
	}
	return fmt.Sprintf("%d lines: %d missing, %d duplicated, %d not from the source, %d out of a host's order: FAIL (%s)",
		v.lines, v.missing, v.dups, v.alien, v.order, strings.Join(v.firstProblems, "; "))
}

// check measures a sink's lines against the source: every line the filter
// keeps once, nothing else, each host's lines in order. labeled: each line
// starts with its publisher's name (sub --label) and a tab, which must be
// the host's.
func check(src source, lines []string, labeled bool, keep func(level string) bool) verdict {
	var v verdict
	seen := map[string]map[uint64]int{}
	last := map[string]uint64{}
	for _, l := range lines {
		v.lines++
		v.bytes += len(l) + 1
		label := ""
		if labeled {
			var ok bool
			if label, l, ok = strings.Cut(l, "\t"); !ok {
				v.alien++
				v.problem("no label: %q", l)
				continue
			}
		}
		host, seq, level, ok := parseLine(l)
		if !ok || seq == 0 || seq > uint64(len(src[host])) || src[host][seq-1] != l || labeled && label != host || !keep(level) {
			v.alien++
			v.problem("not a line of the source (or not for this sink): %q", l)
			continue
		}
		if seen[host] == nil {
			seen[host] = map[uint64]int{}
		}
		seen[host][seq]++
		if seen[host][seq] > 1 {
			v.dups++
			v.problem("%s seq=%d again", host, seq)
			continue
		}
		if seq < last[host] {
			v.order++
			v.problem("%s seq=%d after seq=%d", host, seq, last[host])
		}
		last[host] = seq
	}
	hosts := make([]string, 0, len(src))
	for h := range src {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, host := range hosts {
		for i, l := range src[host] {
			if _, _, level, _ := parseLine(l); keep(level) && seen[host][uint64(i+1)] == 0 {
				v.missing++
				v.problem("%s seq=%d missing", host, i+1)
			}
		}
	}
	return v
}

func all(string) bool          { return true }
func errorsOnly(l string) bool { return l == "ERROR" }
