//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("farpipe bench: finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until a socket listens on port, without connecting
// to it (some listeners serve a single connection), or c exits.
func waitListening(ctx context.Context, port int, c *child) error {
	deadline := time.Now().Add(10 * time.Second)
	for !listening(port) {
		if c.exited() {
			if err := c.wait(); err != nil {
				return err
			}
			return fmt.Errorf("farpipe bench: %s (%s) exited before listening on port %d%s", c.role, c.prog(), port, c.stderr.suffix())
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("farpipe bench: %s (%s) did not listen on port %d within 10s%s", c.role, c.prog(), port, c.stderr.suffix())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// listening reports whether /proc/net/tcp or tcp6 has a listening socket
// on port, or /proc/net/udp or udp6 a bound one (quic://).
func listening(port int) bool {
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"} {
		state := "0A" // TCP_LISTEN
		if strings.Contains(name, "udp") {
			state = "07" // TCP_CLOSE: how an unconnected UDP socket shows
		}
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			// sl local_address rem_address st ...; st 0A is LISTEN
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != state {
				continue
			}
			_, hexPort, ok := strings.Cut(f[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port {
				return true
			}
		}
	}
	return false
}
