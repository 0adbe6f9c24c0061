package shm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
)

// internalPair returns a connected pair of *Conn, closed at the end of the
// test.
func internalPair(t *testing.T) (d, a *Conn) {
	t.Helper()
	name := fmt.Sprintf("internal-test-%d", os.Getpid())
	ln, err := New().Listen(context.Background(), name)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	dc, err := New().Dial(context.Background(), name)
	if err != nil {
		ln.Close()
		<-accepted
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { dc.Close() })
	ac := <-accepted
	if ac == nil {
		t.Fatal("Accept failed")
	}
	t.Cleanup(func() { ac.Close() })
	return dc.(*Conn), ac.(*Conn)
}

// TestCorruptCounters plays a peer that scribbles on the counters it owns:
// Read and Write must fail instead of touching memory outside the rings.
func TestCorruptCounters(t *testing.T) {
	d, a := internalPair(t)
	if _, err := d.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Read(make([]byte, 64)); n != 5 || err != nil {
		t.Fatalf("Read: %d, %v", n, err)
	}

	// The writer's head runs more than a ring ahead of the reader's tail.
	d.out.ctl.head.Store(5 + uint64(len(d.out.buf)) + 1)
	if _, err := a.Read(make([]byte, 64)); !errors.Is(err, errCorrupt) {
		t.Errorf("Read with head a ring and more ahead: %v; want errCorrupt", err)
	}
	// The head goes backwards.
	d.out.ctl.head.Store(2)
	if _, err := a.Read(make([]byte, 64)); !errors.Is(err, errCorrupt) {
		t.Errorf("Read with head behind tail: %v; want errCorrupt", err)
	}

	// The reader's tail runs ahead of the writer's head.
	a.in.ctl.tail.Store(d.out.pos + 1)
	if _, err := d.Write(make([]byte, 64)); !errors.Is(err, errCorrupt) {
		t.Errorf("Write with tail ahead of head: %v; want errCorrupt", err)
	}
	// The tail falls more than a ring behind.
	a.in.ctl.tail.Store(0)
	d.out.pos = uint64(len(d.out.buf)) + 100
	if _, err := d.Write(make([]byte, 64)); !errors.Is(err, errCorrupt) {
		t.Errorf("Write with tail a ring and more behind: %v; want errCorrupt", err)
	}
}
