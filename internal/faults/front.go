package faults

import (
	"io"
	"net"
	"sync"
)

// front is the part of a Proxy that dialers connect to. It forwards every
// connection to the toxics behind it and resets connections itself: adding
// a toxic to Toxiproxy while its links are being torn down can deadlock it,
// which a test that resets connections every few hundred milliseconds met
// (goroutines stuck in ToxicCollection.chainAddToxic).
type front struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	pairs map[*pair]struct{} // live connections
	wg    sync.WaitGroup     // the accept loop and every pair's goroutines
}

// pair is one forwarded connection: the dialer's side and ours to target.
type pair struct {
	c, u net.Conn
	done chan struct{} // closed by kill
	once sync.Once
}

func newFront(target string) (*front, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &front{ln: ln, target: target, pairs: map[*pair]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *front) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		p := &pair{c: c, u: u, done: make(chan struct{})}
		f.mu.Lock()
		f.pairs[p] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(2)
		go f.copy(p, u, c)
		go f.copy(p, c, u)
	}
}

// copy forwards src to dst until either side ends.
func (f *front) copy(p *pair, dst, src net.Conn) {
	defer f.wg.Done()
	defer f.kill(p, false)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
					continue // the other direction may go on; it ends the pair
				}
			}
			return
		}
	}
}

// kill ends p, with a reset (RST) if rst.
func (f *front) kill(p *pair, rst bool) {
	p.once.Do(func() {
		close(p.done)
		for _, x := range []net.Conn{p.c, p.u} {
			if rst {
				x.(*net.TCPConn).SetLinger(0)
			}
			x.Close()
		}
		f.mu.Lock()
		delete(f.pairs, p)
		f.mu.Unlock()
	})
}

// reset resets every live connection.
func (f *front) reset() {
	f.mu.Lock()
	ps := make([]*pair, 0, len(f.pairs))
	for p := range f.pairs {
		ps = append(ps, p)
	}
	f.mu.Unlock()
	for _, p := range ps {
		f.kill(p, true)
	}
}

func (f *front) close() {
	f.ln.Close()
	f.reset()
	f.wg.Wait()
}
