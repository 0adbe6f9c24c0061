// Package faults puts a fault-injecting TCP proxy (Toxiproxy, used as a
// library) between two farpipe endpoints in tests: resets, black holes,
// latency, bandwidth limits and tiny segments.
package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy forwards a loopback port to an upstream address through toxics.
type Proxy struct {
	p *toxiproxy.Proxy
	f *front
}

// New starts a proxy on a free loopback port in front of upstream; it is
// stopped when the test ends.
func New(t testing.TB, upstream string) *Proxy {
	t.Helper()
	zerolog.SetGlobalLevel(zerolog.Disabled) // toxics log through the global logger
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, t.Name(), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("starting the fault proxy: %v", err)
	}
	t.Cleanup(p.Stop)
	f, err := newFront(p.Listen)
	if err != nil {
		t.Fatalf("starting the fault proxy: %v", err)
	}
	t.Cleanup(f.close)
	return &Proxy{p: p, f: f}
}

// Addr is the address to dial instead of upstream.
func (p *Proxy) Addr() string { return p.f.ln.Addr().String() }

// Add adds a toxic, for example Add("latency", "downstream",
// `{"latency": 20}`), and returns a function that removes it.
func (p *Proxy) Add(t testing.TB, typ, stream, attributes string) (remove func()) {
	t.Helper()
	remove, err := p.add(typ, stream, attributes)
	if err != nil {
		t.Fatal(err)
	}
	return remove
}

func (p *Proxy) add(typ, stream, attributes string) (remove func(), err error) {
	name := fmt.Sprintf("%s_%s_%d", typ, stream, rand.Int64())
	body := fmt.Sprintf(`{"name": %q, "type": %q, "stream": %q, "attributes": %s}`, name, typ, stream, attributes)
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		return nil, fmt.Errorf("adding toxic %s: %v", body, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() { p.p.Toxics.RemoveToxic(context.Background(), name) })
	}, nil
}

// BlackHole drops everything in both directions, without closing anything,
// until the returned function is called.
func (p *Proxy) BlackHole(t testing.TB) (restore func()) {
	up := p.Add(t, "timeout", "upstream", `{"timeout": 0}`)
	down := p.Add(t, "timeout", "downstream", `{"timeout": 0}`)
	return func() { up(); down() }
}

// Reset resets (RST) every connection through the proxy.
func (p *Proxy) Reset(t testing.TB) {
	p.f.reset()
}

// ResetEvery resets the connections at random intervals between min and max
// until ctx is done or the test ends, and then sends how many resets it
// made. The test's cleanup waits for its goroutine.
func (p *Proxy) ResetEvery(ctx context.Context, t testing.TB, min, max time.Duration) (resets <-chan int) {
	out := make(chan int, 1)
	ctx, cancel := context.WithCancel(ctx)
	exited := make(chan struct{})
	t.Cleanup(func() { cancel(); <-exited })
	go func() {
		defer close(exited)
		n := 0
		defer func() { out <- n }()
		for {
			d := min + rand.N(max-min+1)
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			p.f.reset()
			n++
		}
	}()
	return out
}
