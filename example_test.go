package farpipe_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/farpipe/farpipe"
)

// A pipe between two goroutines over loopback: one side writes and closes,
// the other reads to EOF, and the writer waits until everything arrived.
func Example() {
	ctx := context.Background()
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept(ctx)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		io.Copy(os.Stdout, c) // returns at EOF, after the checksum matched
	}()

	c, err := farpipe.Dial(ctx, ln.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	io.Copy(c, strings.NewReader("hello, far side\n"))
	c.CloseWrite()
	if err := c.Drain(ctx); err != nil { // the reader has it all
		log.Fatal(err)
	}
	<-done
	// Output: hello, far side
}

// A writer learns that the reader went away, and how much it got.
func ExampleBrokenPipeError() {
	ctx := context.Background()
	ln, _ := farpipe.Listen(ctx, "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, _ := ln.Accept(ctx)
		defer c.Close()
		buf := make([]byte, 5)
		io.ReadFull(c, buf)
		c.Read(buf[:0]) // comes back for more: the 5 bytes count as delivered
		c.CloseRead()   // and goes away
	}()

	c, _ := farpipe.Dial(ctx, ln.URL())
	defer c.Close()
	c.Write([]byte("12345"))
	var bp *farpipe.BrokenPipeError
	for {
		if _, err := c.Write([]byte("more")); errors.As(err, &bp) {
			break
		}
	}
	fmt.Println(errors.Is(bp, farpipe.ErrBrokenPipe), bp.Delivered >= 5)
	// Output: true true
}

// Abort carries a reason to the peer.
func ExampleConn_Abort() {
	ctx := context.Background()
	ln, _ := farpipe.Listen(ctx, "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, _ := ln.Accept(ctx)
		c.Abort("disk full")
	}()

	c, _ := farpipe.Dial(ctx, ln.URL())
	defer c.Close()
	_, err := c.Read(make([]byte, 1))
	var ae *farpipe.AbortError
	if errors.As(err, &ae) {
		fmt.Println(ae.Reason)
	}
	// Output: disk full
}
