package faults

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/farpipe/farpipe/internal/ratelimit"
)

// Shaper is a link of limited bandwidth: a TCP forwarder on a loopback
// port that passes each direction at most at a given rate (a token bucket
// of one 20 ms burst, internal/ratelimit) and counts the bytes it passes.
// Unlike Proxy it needs no test: the benchmark harness uses it as the
// 50 MB/s link of its compression part. Toxiproxy's bandwidth toxic
// (Proxy.Add "bandwidth") does the same inside tests.
type Shaper struct {
	ln       net.Listener
	upstream string
	ctx      context.Context
	cancel   context.CancelFunc
	limUp    *ratelimit.Limiter // dialer to upstream
	limDown  *ratelimit.Limiter // upstream to dialer
	up, down atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // the accept loop and every copy
}

// NewShaper listens on a free loopback port and forwards every connection
// to upstream at most at bytesPerSec in each direction (shared by all the
// connections in that direction).
func NewShaper(upstream string, bytesPerSec float64) (*Shaper, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Shaper{ln: ln, upstream: upstream, ctx: ctx, cancel: cancel,
		limUp: ratelimit.New(bytesPerSec), limDown: ratelimit.New(bytesPerSec), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the address to dial instead of upstream.
func (s *Shaper) Addr() string { return s.ln.Addr().String() }

// Bytes returns the bytes passed so far toward upstream and back.
func (s *Shaper) Bytes() (up, down int64) { return s.up.Load(), s.down.Load() }

// Close stops the shaper, closes every connection and waits for its
// goroutines.
func (s *Shaper) Close() {
	s.ln.Close()
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Shaper) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", s.upstream)
		if err != nil {
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns[c], s.conns[u] = struct{}{}, struct{}{}
		s.mu.Unlock()
		var once sync.Once
		end := func() {
			once.Do(func() {
				c.Close()
				u.Close()
				s.mu.Lock()
				delete(s.conns, c)
				delete(s.conns, u)
				s.mu.Unlock()
			})
		}
		s.wg.Add(2)
		go s.copy(u, c, s.limUp, &s.up, end)
		go s.copy(c, u, s.limDown, &s.down, end)
	}
}

// copy forwards src to dst at lim's pace; a half-close passes on.
func (s *Shaper) copy(dst, src net.Conn, lim *ratelimit.Limiter, n *atomic.Int64, end func()) {
	defer s.wg.Done()
	w := &ratelimit.Writer{Ctx: s.ctx, W: dst, L: lim}
	buf := make([]byte, 64<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n.Add(int64(m))
			if werr != nil {
				end()
				return
			}
		}
		if err == io.EOF {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
				return // the other direction ends the pair
			}
		}
		if err != nil {
			end()
			return
		}
	}
}
