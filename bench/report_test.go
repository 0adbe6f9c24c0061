package main

import (
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestReport checks the figures and verdicts of a made-up run: 1 GB/s is
// one GB in one second.
func TestReport(t *testing.T) {
	tools := []tool{
		{name: "gocopy", label: "gocopy", kind: plain, ceiling: true, usage: true},
		{name: "gocopy-verify", label: "gocopy --verify", kind: plain, verified: true, usage: true},
		{name: "farpipe-plain", label: "farpipe --no-encrypt", kind: plain, farpipe: true, usage: true},
		{name: "socat", label: "socat", kind: plain, rival: true, usage: true},
		{name: "ssh", label: "ssh aes128-gcm", kind: encrypted, rival: true},
	}
	r := newResults(1e9, 3, tools, []string{"zeros"})
	for i, secs := range []float64{1, 0.5, 2} { // 1, 2 and 0.5 GB/s in rounds 1 to 3: median 1
		r.add("gocopy", "zeros", sample{round: i + 1, bytes: 1e9, seconds: secs, cpu: 1, sendRSS: 4 << 20, recvRSS: 5 << 20})
	}
	for _, round := range []int{1, 3} { // 0.95 GB/s: 0.95× and 1.9× gocopy in the same round
		r.add("farpipe-plain", "zeros", sample{round: round, bytes: 1e9, seconds: 1 / 0.95, cpu: 2, sendRSS: 16 << 20, recvRSS: 70 << 20})
	}
	r.add("gocopy-verify", "zeros", sample{round: 1, bytes: 1e9, seconds: 1 / 0.8, cpu: 1.5})
	r.add("gocopy-verify", "zeros", sample{round: 3, bytes: 1e9, seconds: 1, cpu: 1.6})
	r.add("socat", "zeros", sample{round: 1, bytes: 1e9, seconds: 1 / 0.8})
	r.fail("socat", "zeros", "boom")

	var b strings.Builder
	r.writeReport(&b, []string{"skipped nc"})
	out := b.String()
	for _, want := range []string{
		"gocopy                    1.00    0.50–2.00      1.00×        1.25×",
		"farpipe --no-encrypt      0.95    0.95–0.95      0.95×        1.19×       2.15        16.0 / 70.0",
		"(1 of 2 runs failed)",
		"ssh aes128-gcm               -  (not measured)",
		"PASS  farpipe --no-encrypt ≥ 0.90× gocopy                    zeros 0.95× (rounds 0.95–1.90)",
		"PASS  farpipe --no-encrypt ≥ 1.10× best of mbuffer/socat     zeros 1.19×\n",
		"FAIL  peak RSS ≤ 64 MiB per farpipe process                  highest 70.0 MiB (farpipe --no-encrypt recv, zeros)",
		"PASS  farpipe --no-encrypt ≥ 0.95× gocopy --verify           zeros 1.06× (rounds 0.95–1.19)",
		"FAIL  farpipe --no-encrypt CPU/GiB ≤ 1.10× gocopy --verify   zeros 1.29× (2.15 vs 1.66 s) (rounds 1.25–1.33)",
		"gocopy --verify           0.90    0.80–1.00      0.90×        1.12×",
		"note: skipped nc",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}
