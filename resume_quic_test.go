package farpipe_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/farpipe/farpipe"
)

// udpProxy forwards UDP datagrams between its loopback port and upstream,
// with a socket of its own towards upstream for each client address, and
// drops every datagram both ways while blackHole is set: a path that
// silently loses everything, for quic://.
type udpProxy struct {
	ln        *net.UDPConn
	upstream  *net.UDPAddr
	blackHole atomic.Bool

	mu    sync.Mutex
	peers map[string]*net.UDPConn
	wg    sync.WaitGroup // serve and one goroutine per client
}

func newUDPProxy(t *testing.T, upstream string) *udpProxy {
	t.Helper()
	up, err := net.ResolveUDPAddr("udp", upstream)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &udpProxy{ln: ln, upstream: up, peers: map[string]*net.UDPConn{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *udpProxy) addr() string { return p.ln.LocalAddr().String() }

func (p *udpProxy) serve() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.ln.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if p.blackHole.Load() {
			continue
		}
		p.mu.Lock()
		up, ok := p.peers[from.String()]
		if !ok {
			if up, err = net.DialUDP("udp", nil, p.upstream); err != nil {
				p.mu.Unlock()
				continue
			}
			p.peers[from.String()] = up
			p.wg.Go(func() { p.back(up, from) })
		}
		p.mu.Unlock()
		up.Write(buf[:n])
	}
}

// back forwards what upstream sends to the client at from.
func (p *udpProxy) back(up *net.UDPConn, from *net.UDPAddr) {
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		if !p.blackHole.Load() {
			p.ln.WriteToUDP(buf[:n], from)
		}
	}
}

func (p *udpProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, up := range p.peers {
		up.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestResumeQUICBlackHole: a pipe over quic:// whose path drops every
// datagram until the keepalive notices resumes, once the path is back, on
// a new QUIC connection with every byte intact, in both directions.
//
// The QUIC connections the black hole broke end when the close notices
// get through (quic-go resends them on its loss-recovery timer, which
// backed off during the black hole) or at the latest after the transport's
// linger of 5 s. The test waits for that (at most 15 s), so that goleak
// sees nothing left.
func TestResumeQUICBlackHole(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	defer waitGoroutines(t, ignore, 15*time.Second)
	for _, listenerWrites := range []bool{false, true} {
		name := "DialerWrites"
		if listenerWrites {
			name = "ListenerWrites"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			noticed := make(chan struct{}, 1)
			opts := []farpipe.Option{
				farpipe.WithKeepalive(250*time.Millisecond, time.Second),
				farpipe.WithResumeTimeout(20 * time.Second),
				farpipe.WithBackoffMax(200 * time.Millisecond),
				farpipe.WithEvents(func(e farpipe.Event) {
					if e.Kind == farpipe.EventDisconnected {
						select {
						case noticed <- struct{}{}:
						default:
						}
					}
				}),
			}
			ln, err := farpipe.Listen(ctx, "quic://127.0.0.1:0", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			p := newUDPProxy(t, ln.Addr().String())
			accepted := make(chan *farpipe.Conn, 1)
			go func() {
				c, err := ln.Accept(ctx)
				if err != nil {
					t.Error(err)
				}
				accepted <- c
			}()
			d, err := farpipe.Dial(ctx, "quic://"+p.addr(), append(opts, farpipe.WithToken(ln.Token()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Abort("test over")
			a := <-accepted
			if a == nil {
				t.Fatal("Accept failed")
			}
			defer a.Abort("test over")
			from, to := d, a
			if listenerWrites {
				from, to = a, d
			}
			transfer(t, from, to, random(4<<20, 4), 4<<20, func() {
				p.blackHole.Store(true)
				<-noticed // the silence was taken for a failed connection
				p.blackHole.Store(false)
			})
			if st := d.Stats(); st.Reconnects == 0 {
				t.Errorf("no reconnect after the black hole (%+v)", st)
			}
		})
	}
}

// waitGoroutines waits until no goroutine is left beyond those ignore
// ignores, and fails the test if some still are after d.
func waitGoroutines(t *testing.T, ignore goleak.Option, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := goleak.Find(ignore)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines left %v after the test: %v", d, err)
			return
		}
		time.Sleep(100 * time.Millisecond) // polling for the goroutines to end
	}
}
