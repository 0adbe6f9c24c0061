package transporttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// pump writes size pseudo-random bytes, determined by seed, to w in writes
// of random size. It returns the SHA-256 of the bytes written, how many
// were written and the first Write error.
func pump(w io.Writer, seed uint64, size int64) (sum []byte, n int64, err error) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key)
	chunk := rand.New(rand.NewPCG(seed, 1))
	buf := make([]byte, 64<<10)
	h := sha256.New()
	for n < size {
		b := buf[:min(int64(1+chunk.IntN(len(buf))), size-n)]
		src.Read(b)
		m, err := w.Write(b)
		h.Write(b[:m])
		n += int64(m)
		if err != nil {
			return nil, n, err
		}
	}
	return h.Sum(nil), n, nil
}

// drain reads exactly size bytes from r in reads of random size. It
// returns the SHA-256 of the bytes read, how many were read and the first
// Read error (io.ErrUnexpectedEOF for an early EOF).
func drain(r io.Reader, seed uint64, size int64) (sum []byte, n int64, err error) {
	chunk := rand.New(rand.NewPCG(seed, 2))
	buf := make([]byte, 64<<10)
	h := sha256.New()
	for n < size {
		m, err := r.Read(buf[:min(int64(1+chunk.IntN(len(buf))), size-n)])
		h.Write(buf[:m])
		n += int64(m)
		if err != nil && n < size {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, n, err
		}
	}
	return h.Sum(nil), n, nil
}

// testLargeTransfer sends LargeSize pseudo-random bytes in each direction
// at once over one connection and compares the SHA-256 of everything sent
// with that of everything received.
func testLargeTransfer(t *testing.T, e *env) {
	d, a := e.pair(t)
	size := e.s.largeSize()
	abort := func() { d.Close(); a.Close() } // unblock the other goroutines
	type result struct {
		sum []byte
		n   int64
		err error
	}
	sent := make([]result, len(roles))
	recv := make([]result, len(roles))
	start := time.Now()
	var wg sync.WaitGroup
	for i, r := range roles {
		from, to := r.pick(d, a)
		seed := uint64(i + 1)
		wg.Go(func() {
			if sent[i].sum, sent[i].n, sent[i].err = pump(from, seed, size); sent[i].err != nil {
				abort()
			}
		})
		wg.Go(func() {
			if recv[i].sum, recv[i].n, recv[i].err = drain(to, seed, size); recv[i].err != nil {
				abort()
			}
		})
	}
	wg.Wait()
	for i, r := range roles {
		switch {
		case sent[i].err != nil:
			t.Errorf("%s: Write after %d of %d bytes: %v", r.name, sent[i].n, size, sent[i].err)
		case recv[i].err != nil:
			t.Errorf("%s: Read after %d of %d bytes: %v", r.name, recv[i].n, size, recv[i].err)
		case !bytes.Equal(sent[i].sum, recv[i].sum):
			t.Errorf("%s: sha256 of %d bytes received %x, sent %x", r.name, size, recv[i].sum, sent[i].sum)
		}
	}
	t.Logf("%d MiB each way in %v", size>>20, time.Since(start).Round(time.Millisecond))
}

const (
	manyConns    = 32
	manyConnSize = 256 << 10
)

// testManyConns runs manyConns connections to one listener at once. Each
// client sends its id and manyConnSize bytes derived from it; the server
// checks them and answers with other bytes derived from the id, then
// closes; the client checks the answer and the EOF after it.
func testManyConns(t *testing.T, e *env) {
	ln := e.listen(t)
	addr := e.addr(ln)
	done := make(chan struct{})
	var server sync.WaitGroup
	server.Go(func() {
		var handlers sync.WaitGroup
		defer handlers.Wait()
		for range manyConns {
			c, err := ln.Accept()
			if err != nil {
				select {
				case <-done: // closed below after a client failed
				default:
					t.Errorf("Accept: %v", err)
				}
				return
			}
			e.track(c)
			handlers.Go(func() { serveOne(t, c) })
		}
	})
	var clients sync.WaitGroup
	for id := range uint64(manyConns) {
		clients.Go(func() { clientOne(t, e, addr, id) })
	}
	clients.Wait()
	close(done)
	ln.Close() // unblocks Accept if a client never connected
	server.Wait()
}

// expected returns the SHA-256 of the manyConnSize bytes derived from seed.
func expected(seed uint64) []byte {
	sum, _, _ := pump(io.Discard, seed, manyConnSize)
	return sum
}

// serveOne handles one connection of testManyConns.
func serveOne(t *testing.T, c net.Conn) {
	defer c.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Errorf("server: reading the id: %v", err)
		return
	}
	id := binary.BigEndian.Uint64(hdr[:])
	sum, n, err := drain(c, id, manyConnSize)
	if err != nil {
		t.Errorf("server, conn %d: Read after %d bytes: %v", id, n, err)
		return
	}
	if !bytes.Equal(sum, expected(2*id)) {
		t.Errorf("server, conn %d: received bytes that are not the ones this client sent", id)
		return
	}
	if _, n, err := pump(c, 2*id+1, manyConnSize); err != nil {
		t.Errorf("server, conn %d: Write after %d bytes: %v", id, n, err)
	}
}

// clientOne is one client of testManyConns.
func clientOne(t *testing.T, e *env, addr string, id uint64) {
	c, err := e.dial(context.Background(), addr)
	if err != nil {
		t.Errorf("conn %d: Dial: %v", id, err)
		return
	}
	defer c.Close()
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], id)
	if _, err := c.Write(hdr[:]); err != nil {
		t.Errorf("conn %d: writing the id: %v", id, err)
		return
	}
	if _, n, err := pump(c, 2*id, manyConnSize); err != nil {
		t.Errorf("conn %d: Write after %d bytes: %v", id, n, err)
		return
	}
	sum, n, err := drain(c, id, manyConnSize)
	if err != nil {
		t.Errorf("conn %d: Read after %d bytes: %v", id, n, err)
		return
	}
	if !bytes.Equal(sum, expected(2*id+1)) {
		t.Errorf("conn %d: received bytes that are not the ones the server sent on this conn", id)
		return
	}
	if rest, err := io.ReadAll(c); err != nil || len(rest) > 0 {
		t.Errorf("conn %d: after the answer, %d more bytes and %v; want EOF", id, len(rest), err)
	}
}
