package farpipe_test

import (
	"context"
	"net"
	"testing"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/internal/testflags"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"
)

func TestMain(m *testing.M) {
	// The conformance runs wait on deadlines far more than they compute.
	testflags.RaiseParallel(3)
	goleak.VerifyTestMain(m,
		// Toxiproxy (the fault proxy of the resume tests) leaves its toxic
		// goroutines blocked after Stop; they are not ours.
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).read"))
}

func makePipe(t *testing.T) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		ctx := context.Background()
		ln, err := farpipe.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer ln.Close()
		type res struct {
			c   *farpipe.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			c, err := ln.Accept(ctx)
			ch <- res{c, err}
		}()
		d, err := farpipe.Dial(ctx, ln.URL())
		if err != nil {
			return nil, nil, nil, err
		}
		r := <-ch
		if r.err != nil {
			d.Close()
			return nil, nil, nil, r.err
		}
		stop = func() {
			d.Abort("test over")
			r.c.Abort("test over")
		}
		return d, r.c, stop, nil
	}
}

func TestNettestConn(t *testing.T) {
	nettest.TestConn(t, makePipe(t))
}
