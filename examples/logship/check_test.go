package main

import (
	"fmt"
	"testing"
)

// TestCheck: the sink check finds each way a sink can differ from the
// hosts' files.
func TestCheck(t *testing.T) {
	line := func(host string, seq int, level string) string {
		return fmt.Sprintf("2026-11-30T05:00:00.%06dZ %s seq=%d %s message %d", seq, host, seq, level, seq)
	}
	src := source{
		"h1": {line("h1", 1, "INFO"), line("h1", 2, "ERROR"), line("h1", 3, "WARN")},
		"h2": {line("h2", 1, "ERROR"), line("h2", 2, "INFO")},
	}
	all5 := []string{src["h1"][0], src["h2"][0], src["h1"][1], src["h2"][1], src["h1"][2]}
	label := func(host string, ls ...string) []string {
		var out []string
		for _, l := range ls {
			out = append(out, host+"\t"+l)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		lines   []string
		labeled bool
		keep    func(string) bool
		want    string // missing dups alien order
	}{
		{"exact, interleaved", all5, false, all, "0 0 0 0"},
		{"a line missing", all5[:4], false, all, "1 0 0 0"},
		{"a line twice", append(append([]string{}, all5...), src["h2"][0]), false, all, "0 1 0 0"},
		{"a host's order broken", []string{src["h1"][1], src["h1"][0], src["h1"][2], src["h2"][0], src["h2"][1]}, false, all, "0 0 0 1"},
		{"a line changed", append(append([]string{}, all5[:4]...), src["h1"][2]+"!"), false, all, "1 0 1 0"},
		{"ERROR lines only", []string{src["h1"][1], src["h2"][0]}, false, errorsOnly, "0 0 0 0"},
		{"an INFO line among the ERRORs", []string{src["h1"][1], src["h2"][0], src["h2"][1]}, false, errorsOnly, "0 0 1 0"},
		{"labeled", append(label("h1", src["h1"]...), label("h2", src["h2"]...)...), true, all, "0 0 0 0"},
		{"a wrong label", append(label("h1", src["h1"]...), label("h1", src["h2"]...)...), true, all, "2 0 2 0"},
		{"no label", all5, true, all, "5 0 5 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := check(src, tc.lines, tc.labeled, tc.keep)
			got := fmt.Sprintf("%d %d %d %d", v.missing, v.dups, v.alien, v.order)
			if got != tc.want || v.ok() != (tc.want == "0 0 0 0") {
				t.Errorf("missing, dups, alien, order = %s, want %s (%v)", got, tc.want, v)
			}
		})
	}
}
