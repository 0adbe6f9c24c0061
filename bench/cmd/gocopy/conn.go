package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// closeWriter is a connection whose writing direction can be closed alone.
type closeWriter interface {
	net.Conn
	CloseWrite() error
}

// send dials addr, copies standard input to it, closes the writing
// direction and waits until the receiver closes the connection, which it
// does once it has written everything out.
func send(addr string, m mode, wait time.Duration) error {
	growPipe(os.Stdin)
	raw, err := dial(addr, wait)
	if err != nil {
		return err
	}
	var c closeWriter = raw.(*net.TCPConn)
	if m == tlsCopy {
		tc := tls.Client(raw, clientConfig())
		if err := handshake(tc); err != nil {
			raw.Close()
			return err
		}
		c = tc
	}
	defer c.Close()
	if m == verifiedCopy {
		err = sendVerified(c, os.Stdin)
	} else {
		_, err = copyFull(c, os.Stdin, make([]byte, bufSize))
	}
	if err != nil {
		return fmt.Errorf("farpipe bench: gocopy send: %v", err)
	}
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("farpipe bench: gocopy send: closing the writing direction: %v", err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return fmt.Errorf("farpipe bench: gocopy send: waiting for the receiver: %v", err)
	}
	return nil
}

// dial retries until a listener answers at addr or wait has passed.
func dial(addr string, wait time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(wait)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("farpipe bench: gocopy send: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recv accepts one connection at addr and copies it to standard output.
func recv(addr string, m mode) error {
	growPipe(os.Stdout)
	var cfg *tls.Config
	if m == tlsCopy {
		var err error
		if cfg, err = serverConfig(); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("farpipe bench: gocopy recv: %v", err)
	}
	c, err := ln.Accept()
	ln.Close()
	if err != nil {
		return fmt.Errorf("farpipe bench: gocopy recv: %v", err)
	}
	defer c.Close()
	if m == tlsCopy {
		tc := tls.Server(c, cfg)
		if err := handshake(tc); err != nil {
			return err
		}
		c = tc
	}
	if m == verifiedCopy {
		err = recvVerified(os.Stdout, c)
	} else {
		_, err = copyFull(os.Stdout, c, make([]byte, bufSize))
	}
	if err != nil {
		return fmt.Errorf("farpipe bench: gocopy recv: %v", err)
	}
	return nil
}
