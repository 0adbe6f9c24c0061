//go:build linux

package main

import (
	"strings"
	"testing"
)

// TestRelayGoals checks the verdicts of the relay part on made-up runs:
// 1 GB/s is one GB in one second.
func TestRelayGoals(t *testing.T) {
	tools := []tool{
		{name: "farpipe-tls", label: "farpipe (TLS) direct", kind: encrypted, farpipe: true, usage: true},
		{name: "farpipe-relay", label: "farpipe via relay (TLS)", kind: encrypted, farpipe: true, usage: true},
		{name: "natscopy-256k", label: "nats copier 256 KiB", kind: plain, usage: true},
		{name: "natscopy-1024k", label: "nats copier 1024 KiB", kind: plain, usage: true},
		{name: "croc", label: "croc (own relay)", kind: encrypted, usage: true},
	}
	run := func(relayGBps float64, memory loadResult, codes codeResult) string {
		r := &relayResults{results: newResults(1e9, 1, tools, []string{"random"}), memory: memory, codes: codes}
		for name, gbps := range map[string]float64{"farpipe-tls": 1, "farpipe-relay": relayGBps, "natscopy-256k": 0.5, "natscopy-1024k": 0.6, "croc": 0.1} {
			if gbps > 0 {
				r.add(name, "random", sample{round: 1, bytes: 1e9, seconds: 1 / gbps, cpu: 1, relayCPU: 2})
			}
		}
		var b strings.Builder
		r.writeReport(&b, nil)
		return b.String()
	}
	farpipePipes := loadResult{pipes: 10, paced: 5, size: 1 << 30, with: "farpipe send | relay | farpipe recv (TLS)", hwm: 100 << 20}
	codes := codeResult{toCode: []float64{0.03, 0.05, 0.04}, toByte: []float64{0.1, 0.6, 0.2}}
	for _, c := range []struct {
		name   string
		relay  float64
		memory loadResult
		codes  codeResult
		want   []string
	}{
		{"all pass", 0.55, farpipePipes, codes, []string{
			"PASS  farpipe via relay ≥ 0.50× farpipe (TLS) direct         random 0.55×",
			"PASS  farpipe via relay ≥ 0.80× nats copier 1024 KiB         random 0.92×",
			"INFO  farpipe via relay ÷ nats copier 256 KiB (no goal)      random 1.10×",
			"PASS  farpipe via relay ≥ 5× croc (own relay)                random 5.50×",
			"PASS  relay peak RSS ≤ 128 MiB, 10 pipes, 5 paced            100.0 MiB",
			"PASS  short code: to the printed code ≤ 200 ms               median 40 ms (30–50 ms, 3 runs)",
			"PASS  short code: recv CODE to the first byte ≤ 500 ms       median 200 ms (100–600 ms, 3 runs)",
			"farpipe via relay (TLS)    0.550  0.550–0.550     0.55×     0.92×       1.07       2.15", // 1e9 bytes: 0.93 GiB
		}},
		{"too slow, too big", 0.45, loadResult{pipes: 10, paced: 5, with: "farpipe", hwm: 130 << 20}, codeResult{why: "not available: no --relay"}, []string{
			"FAIL  farpipe via relay ≥ 0.50× farpipe (TLS) direct         random 0.45×",
			"FAIL  farpipe via relay ≥ 0.80× nats copier 1024 KiB         random 0.75×",
			"FAIL  farpipe via relay ≥ 5× croc (own relay)                random 4.50×",
			"FAIL  relay peak RSS ≤ 128 MiB, 10 pipes, 5 paced            130.0 MiB",
			"SKIP  short code: to the printed code ≤ 200 ms               not available: no --relay",
		}},
		{"no relay line, copiers in the memory test", 0, loadResult{pipes: 10, paced: 5, with: "nats copier", hwm: 200 << 20}, codes, []string{
			"SKIP  farpipe via relay ≥ 0.50× farpipe (TLS) direct         random not measured",
			"INFO  relay peak RSS ≤ 128 MiB, 10 pipes, 5 paced            200.0 MiB with nats copiers, not farpipe (no verdict)",
			"farpipe via relay (TLS)        -  (not measured)",
		}},
		{"a failed pipe fails the memory goal", 0.55, loadResult{pipes: 10, paced: 5, with: "farpipe", hwm: 50 << 20, failures: []string{"pipe 3: boom"}}, codes, []string{
			"FAIL  relay peak RSS ≤ 128 MiB, 10 pipes, 5 paced            50.0 MiB, 1 pipes failed",
			"failed: pipe 3: boom",
		}},
		{"a failed code run fails its goal", 0.55, farpipePipes, codeResult{toCode: []float64{0.01}, toByte: []float64{0.1}, failures: []string{"run 2: boom"}}, []string{
			"FAIL  short code: to the printed code ≤ 200 ms               median 10 ms (10–10 ms, 1 runs)",
		}},
	} {
		out := run(c.relay, c.memory, c.codes)
		for _, want := range c.want {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the report lacks %q:\n%s", c.name, want, out)
			}
		}
	}
}
