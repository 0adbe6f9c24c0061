package faults

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestShaper: bytes pass whole both ways and are counted; 2 MB at 4 MB/s
// take about half a second (a loose bound: the machine may be loaded).
func TestShaper(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c) // echo, then half-close back
		c.(*net.TCPConn).CloseWrite()
		echoed <- err
	}()
	s, err := NewShaper(ln.Addr().String(), 4e6)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 2e6)
	rand.Read(data)
	start := time.Now()
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	el := time.Since(start)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo: %d bytes, %v; want the %d sent", len(got), err, len(data))
	}
	if err := <-echoed; err != nil {
		t.Fatal(err)
	}
	if up, down := s.Bytes(); up != int64(len(data)) || down != int64(len(data)) {
		t.Fatalf("counted %d up, %d down; want %d each", up, down, len(data))
	}
	t.Logf("2 MB each way at 4 MB/s in %v", el)
	if el < 400*time.Millisecond {
		t.Fatalf("2 MB at 4 MB/s took %v: the link is not limited", el)
	}
}
