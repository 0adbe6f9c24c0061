package faults

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// front is the part of a Proxy that dialers connect to. It forwards every
// connection to the toxics behind it and resets connections itself: adding
// a toxic to Toxiproxy while its links are being torn down can deadlock it,
// which a test that resets connections every few hundred milliseconds met
// (goroutines stuck in ToxicCollection.chainAddToxic).
type front struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	pairs  map[*pair]struct{} // live connections
	closed bool               // by close: pairs accepted after it are ended at once
	wg     sync.WaitGroup     // the accept loop and every pair's goroutines
}

// pair is one forwarded connection: the dialer's side and ours to target.
type pair struct {
	c, u net.Conn
	done chan struct{} // closed by kill
	once sync.Once
	eofs atomic.Int32 // directions that have ended with EOF
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
		if f.closed { // close's reset has not seen this pair
			f.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		f.pairs[p] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(2)
		go f.copy(p, u, c)
		go f.copy(p, c, u)
	}
}

// copy forwards src to dst until either side ends. At EOF it passes the
// half close on and leaves the pair to the other direction, which may go
// on; the pair ends when both directions have, or one fails.
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
		if tc, ok := dst.(*net.TCPConn); ok && err == io.EOF {
			tc.CloseWrite()
			if p.eofs.Add(1) < 2 {
				<-p.done // the other direction ends the pair
			}
			return
		}
		if err != nil {
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
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.reset()
	f.wg.Wait()
}
