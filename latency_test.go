package farpipe_test

import (
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/roundtrip"
)

// BenchmarkRoundTrip measures the round trip of a 64-byte message on a
// farpipe.Conn beside raw loopback TCP in the same run, interleaved, and
// reports each and their ratio (goal: at most 1.5x raw TCP). The bench
// harness (go run ./bench) measures the same.
func BenchmarkRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []farpipe.Option
	}{
		{"farpipe", nil},
		{"farpipe-noencrypt", []farpipe.Option{farpipe.WithNoEncrypt()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tcp, err := roundtrip.TCP()
			if err != nil {
				b.Fatal(err)
			}
			defer tcp.Close()
			fp, err := roundtrip.Farpipe(tc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer fp.Close()
			pingPong(b, tcp, 200) // warm up
			pingPong(b, fp, 200)
			var raw, far time.Duration
			b.ResetTimer()
			for b.Loop() {
				raw += pingPong(b, tcp, 100)
				far += pingPong(b, fp, 100)
			}
			b.ReportMetric(float64(raw.Microseconds())/float64(b.N), "tcp-µs/rt")
			b.ReportMetric(float64(far.Microseconds())/float64(b.N), "farpipe-µs/rt")
			b.ReportMetric(float64(far)/float64(raw), "ratio")
		})
	}
}

func pingPong(b *testing.B, p *roundtrip.Pair, n int) time.Duration {
	d, err := p.PingPong(n)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
