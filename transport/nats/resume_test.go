package nats_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/testrelay"
	"github.com/farpipe/farpipe/transport/nats"
)

// TestSessionResumes runs farpipe sessions through a relay and breaks the
// relay's side of them mid-stream in each way the relay can: a lost
// message, messages reordered, the relay restarted. Everything sent must
// arrive exactly once, in order (compared by SHA-256), the writer's Drain
// must succeed, and the session must have resumed.
func TestSessionResumes(t *testing.T) {
	const size = 24 << 20
	for _, tc := range []struct {
		name  string
		fault func(r *testrelay.Relay)
	}{
		{"lost message", func(*testrelay.Relay) { dropOne(false) }},
		{"reordered messages", func(*testrelay.Relay) { dropOne(true) }},
		{"relay restart", func(r *testrelay.Relay) { r.Restart(300 * time.Millisecond) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testrelay.Start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			opts := []farpipe.Option{farpipe.WithResumeTimeout(30 * time.Second), farpipe.WithBackoffMax(200 * time.Millisecond)}
			ln, err := farpipe.Listen(ctx, r.URL("resume"), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// The dialer lists the server twice: another NATS connection
			// than the listener's, as another process would have.
			dialAddr := strings.Replace(ln.URL(), r.HostPort(), r.HostPort()+","+r.HostPort(), 1)
			accepted := make(chan *farpipe.Conn, 1)
			go func() {
				c, _ := ln.Accept(ctx)
				accepted <- c
			}()
			d, err := farpipe.Dial(ctx, dialAddr, opts...)
			if err != nil {
				t.Fatal(err)
			}
			a := <-accepted
			if a == nil {
				d.Abort("test: accept failed")
				t.Fatal("Accept failed")
			}
			defer func() { // both ends close and their goroutines exit
				d.Close()
				a.Close()
				d.Wait()
				a.Wait()
			}()

			data := make([]byte, size)
			rand.NewChaCha8([32]byte{1}).Read(data)
			var wg sync.WaitGroup
			var werr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, werr = d.Write(data); werr == nil {
					if werr = d.CloseWrite(); werr == nil {
						werr = d.Drain(ctx)
					}
				}
			}()
			var once sync.Once
			h := sha256.New()
			buf := make([]byte, 256<<10)
			var n int
			for {
				k, err := a.Read(buf)
				h.Write(buf[:k])
				n += k
				if n >= size/3 {
					once.Do(func() { tc.fault(r) })
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Read after %d bytes: %v", n, err)
				}
			}
			nats.SetTestHook(nil)
			wg.Wait()
			if werr != nil {
				t.Fatalf("writer: %v", werr)
			}
			if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("received %d bytes whose SHA-256 differs from the %d sent", n, size)
			}
			if d.Stats().Reconnects == 0 && a.Stats().Reconnects == 0 {
				t.Fatal("the fault did not make the session resume: the test tests nothing")
			}
		})
	}
}

// dropOne makes the relay lose the next data message, or, with reorder,
// deliver it after the one that follows it.
func dropOne(reorder bool) {
	var mu sync.Mutex // the hook runs for every connection of the process
	state := 0
	var held []byte
	nats.SetTestHook(func(msg []byte, publish func([]byte) error) error {
		if msg[0] != nats.KindData {
			return publish(msg)
		}
		mu.Lock()
		defer mu.Unlock()
		switch state {
		case 0:
			state = 1
			if reorder {
				held = bytes.Clone(msg)
			}
			return nil
		case 1:
			state = 2
			err := publish(msg)
			if reorder {
				publish(held)
			}
			return err
		}
		return publish(msg)
	})
}
