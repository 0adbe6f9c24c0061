package amqp_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
)

// cutProxy forwards TCP connections to a server until cut: from then on it
// forwards nothing (a black hole: what is sent is read and dropped, nothing
// is closed), as a network cut looks to both ends.
type cutProxy struct {
	l     net.Listener
	to    string
	cut   atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startCutProxy(t *testing.T, to string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, to: to}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// pipe copies from src to dst until src fails; after the cut it drops
// what it reads.
func (p *cutProxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	b := make([]byte, 32<<10)
	for {
		n, err := src.Read(b)
		if err != nil {
			return
		}
		if !p.cut.Load() {
			if _, err := dst.Write(b[:n]); err != nil {
				return
			}
		}
	}
}

// TestQueueNetworkCut: a worker cut off from the broker (nothing closed,
// nothing forwarded) holding an item loses it to another worker once the
// broker misses its heartbeats (1 s here, through the address).
func TestQueueNetworkCut(t *testing.T) {
	needRabbit(t)
	t.Parallel()
	addr := newAddr()
	host, rest, _ := strings.Cut(strings.TrimPrefix(addr, "amqp://guest:guest@"), "/")
	proxy := startCutProxy(t, host)
	cutAddr := "amqp://guest:guest@" + proxy.l.Addr().String() + "/" + rest + "?heartbeat=1"
	prod, w2 := openQueue(t, addr, 1, "map"), openQueue(t, addr, 1, "w2")
	w1 := openQueue(t, cutAddr, 1, "w1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	brokertest.Put(t, ctx, sub, "a", "x")
	if w, err := w1.Take(ctx); err != nil || w.Item().ID != "a" {
		t.Fatalf("took %v, %v", w, err)
	}
	proxy.cut.Store(true)
	w, err := w2.Take(ctx) // once the broker gave up on w1
	if err != nil || w.Item().ID != "a" {
		t.Fatalf("took %v, %v", w, err)
	}
	io.WriteString(w, "after the cut")
	if err := w.Finish(ctx, broker.WorkStatus{}); err != nil {
		t.Fatal(err)
	}
	r, err := sub.Result(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r.Output); string(got) != "after the cut" || r.Worker != "w2" {
		t.Fatalf("got %q from %s", got, r.Worker)
	}
}
