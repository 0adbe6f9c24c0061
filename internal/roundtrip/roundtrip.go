// Package roundtrip measures the round trip of small messages on a
// farpipe.Conn beside raw loopback TCP, interleaved: the latency benchmark
// of the root package and the latency goal of the bench harness.
package roundtrip

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/farpipe/farpipe"
)

// MessageSize is the size of the messages sent back and forth.
const MessageSize = 64

// Pair is the two ends of a connection whose server end echoes every
// message until Close.
type Pair struct {
	Client net.Conn
	server net.Conn
	close  func()
}

// Close ends both ends.
func (p *Pair) Close() { p.close() }

// TCP returns an echoing pair over raw loopback TCP (Go sets TCP_NODELAY):
// the ceiling.
func TCP() (*Pair, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	s := <-accepted
	if s == nil {
		c.Close()
		return nil, fmt.Errorf("roundtrip: accept failed")
	}
	return start(c, s, func() { c.Close(); s.Close() }), nil
}

// Farpipe returns an echoing pair of farpipe.Conns over loopback TCP, made
// with opts on both ends (default: TLS and a token).
func Farpipe(opts ...farpipe.Option) (*Pair, error) {
	ctx := context.Background()
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0", opts...)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	accepted := make(chan *farpipe.Conn, 1)
	go func() {
		c, _ := ln.Accept(ctx)
		accepted <- c
	}()
	c, err := farpipe.Dial(ctx, ln.URL(), opts...)
	if err != nil {
		return nil, err
	}
	s := <-accepted
	if s == nil {
		c.Abort("no peer")
		return nil, fmt.Errorf("roundtrip: accept failed")
	}
	return start(c, s, func() { c.Abort("done"); s.Abort("done") }), nil
}

func start(c, s net.Conn, end func()) *Pair {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, MessageSize)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	}()
	return &Pair{Client: c, server: s, close: func() { end(); <-done }}
}

// PingPong sends n messages from p's client, each waiting for its echo, and
// returns the mean round trip.
func (p *Pair) PingPong(n int) (time.Duration, error) {
	msg := make([]byte, MessageSize)
	began := time.Now()
	for range n {
		if _, err := p.Client.Write(msg); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(p.Client, msg); err != nil {
			return 0, err
		}
	}
	return time.Since(began) / time.Duration(n), nil
}

// Result is one comparison: medians over the rounds, and the ratio of
// farpipe to TCP in each round.
type Result struct {
	TCP, Farpipe time.Duration
	Ratios       []float64
}

// Ratio is the ratio of the medians.
func (r Result) Ratio() float64 { return float64(r.Farpipe) / float64(r.TCP) }

// Compare measures rounds rounds of n round trips on raw TCP and on
// farpipe (made with opts), alternately, after a warm-up.
func Compare(rounds, n int, opts ...farpipe.Option) (Result, error) {
	tcp, err := TCP()
	if err != nil {
		return Result{}, err
	}
	defer tcp.Close()
	fp, err := Farpipe(opts...)
	if err != nil {
		return Result{}, err
	}
	defer fp.Close()
	for _, p := range []*Pair{tcp, fp} { // warm up
		if _, err := p.PingPong(n); err != nil {
			return Result{}, err
		}
	}
	var raw, far []time.Duration
	var res Result
	for range rounds {
		a, err := tcp.PingPong(n)
		if err != nil {
			return Result{}, err
		}
		b, err := fp.PingPong(n)
		if err != nil {
			return Result{}, err
		}
		raw, far = append(raw, a), append(far, b)
		res.Ratios = append(res.Ratios, float64(b)/float64(a))
	}
	res.TCP, res.Farpipe = median(raw), median(far)
	return res, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
