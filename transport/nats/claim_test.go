package nats

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testrelay"
	natsgo "github.com/nats-io/nats.go"
)

// TestClaimName checks that a pipe's name has at most one listener: one
// that waits there refuses the next, listeners that start at the same
// moment get it at most once between them and the others are refused
// with EADDRINUSE, a monitor subscribed to everything does not make the
// name look taken, and a closed listener's name is free again at once.
func TestClaimName(t *testing.T) {
	r := testrelay.Start(t)
	tr := &natsTransport{scheme: "nats", pool: defaultPool}
	listen := func(name string) (net.Listener, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return tr.Listen(ctx, strings.TrimPrefix(r.URL(name), "nats://"))
	}
	refused := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), "farpipe: ") || !strings.Contains(err.Error(), "pick another name") {
			t.Fatalf("listening at a taken name: %v, want a one-line farpipe error wrapping EADDRINUSE", err)
		}
	}

	t.Run("one after the other", func(t *testing.T) {
		name := freshName()
		first, err := listen(name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = listen(name)
		refused(t, err)
		first.Close()
		again, err := listen(name)
		if err != nil {
			t.Fatalf("listening at a name its listener left: %v", err)
		}
		again.Close()
	})

	t.Run("at the same moment", func(t *testing.T) {
		const rounds, rivals = 20, 6
		for range rounds {
			name := freshName()
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				won   []net.Listener
				start = make(chan struct{})
			)
			for range rivals {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ln, err := listen(name)
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						won = append(won, ln)
						return
					}
					if !errors.Is(err, syscall.EADDRINUSE) {
						t.Errorf("a rival failed otherwise than refused: %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
			for _, ln := range won {
				ln.Close()
			}
			if len(won) > 1 {
				t.Fatalf("%d of %d listeners starting at once got the name %s, want at most 1", len(won), rivals, name)
			}
		}
	})

	t.Run("beside a monitor", func(t *testing.T) {
		nc, err := natsgo.Connect(r.URL("")[:len(r.URL(""))-1])
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		mon, err := nc.Subscribe(">", func(*natsgo.Msg) {})
		if err != nil {
			t.Fatal(err)
		}
		defer mon.Unsubscribe()
		nc.Flush()
		name := freshName()
		first, err := listen(name)
		if err != nil {
			t.Fatalf("listening with a monitor on the relay: %v", err)
		}
		defer first.Close()
		_, err = listen(name)
		refused(t, err)
	})
}
