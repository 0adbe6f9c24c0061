//go:build linux

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRawPipe checks that rawPipe takes pipes only, that what goes through
// its description arrives, that the reader sees the end only once both
// descriptions of the writing end are closed, and that a write after the
// reader has gone fails with EPIPE as *os.File reports it.
func TestRawPipe(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if rawPipe(file, true) != nil {
		t.Fatal("rawPipe took a regular file")
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	pw, pr := rawPipe(w, true), rawPipe(r, false)
	if pw == nil || pr == nil {
		t.Fatal("rawPipe refused a pipe")
	}
	defer pr.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than the pipe holds
	errc := make(chan error, 1)
	go func() {
		_, err := pw.Write(data)
		pw.Close()
		errc <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(pr, got); err != nil {
		t.Fatalf("reading: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the bytes differ")
	}
	// Only the private description is closed: no end yet.
	pr.own.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := pr.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with the pipe's own description open: %v, want to wait (a deadline)", err)
	}
	pr.own.SetReadDeadline(time.Time{})
	w.Close() // now no description of the writing end is open
	if n, err := pr.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read at the end: %d, %v, want io.EOF", n, err)
	}

	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	pw2 := rawPipe(w2, true)
	if pw2 == nil {
		t.Fatal("rawPipe refused a pipe")
	}
	defer pw2.Close()
	r2.Close()
	_, err = pw2.Write([]byte("x"))
	var pe *os.PathError
	if !errors.Is(err, syscall.EPIPE) || !errors.As(err, &pe) || pe.Op != "write" {
		t.Fatalf("write without a reader: %v, want *os.PathError for write matching EPIPE", err)
	}
}
