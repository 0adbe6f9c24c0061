package transport_test

import (
	"context"
	"fmt"
	"io"

	"github.com/farpipe/farpipe/transport"
	_ "github.com/farpipe/farpipe/transport/tcp" // registers "tcp"
)

func ExampleParse() {
	for _, raw := range []string{"tcp://127.0.0.1:7000", "[::1]:7000", ":7000", "127.0.0.1", "foo://x"} {
		scheme, addr, err := transport.Parse(raw)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s %s\n", scheme, addr)
	}
	// Output:
	// tcp 127.0.0.1:7000
	// tcp [::1]:7000
	// tcp :7000
	// farpipe: address "127.0.0.1" has no port: write HOST:PORT, for example 127.0.0.1:7000
	// farpipe: unknown transport "foo" in "foo://x" (known: fake, tcp)
}

func ExampleListen() {
	ctx := context.Background()
	ln, err := transport.Listen(ctx, "tcp://127.0.0.1:0") // port 0: any free port
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "hello over tcp")
	}()

	c, err := transport.Dial(ctx, ln.Addr().String()) // no scheme: tcp
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	b, _ := io.ReadAll(c)
	<-done
	fmt.Println(string(b))
	// Output: hello over tcp
}
