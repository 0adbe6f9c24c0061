package conntest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testTransfer sends streams of several sizes: the writer writes, calls
// CloseWrite and Drain; the reader reads to io.EOF. What arrives must be
// what was sent, and Drain must return nil, and only after the reader has
// asked for EOF.
func testTransfer(t *testing.T, s *suite) {
	cases := []struct {
		name  string
		size  int
		chunk int // largest Write; 0: pieces of 1 MiB
	}{
		{"0B", 0, 0},
		{"1B", 1, 0},
		{"64KiB", 64 << 10, 0},
		{sizeName(s.cfg.largeSize()), s.cfg.largeSize(), 512 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.both(t, func(e *env, w, r Conn) { transfer(e, w, r, tc.size, tc.chunk) })
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func transfer(e *env, w, r Conn, size, chunk int) {
	seed := uint64(size)
	var seq atomic.Int64
	var drainSeq int64
	var sent []byte
	drained := e.goErr(func() error {
		var err error
		if sent, err = sendStream(w, seed, size, chunk); err != nil {
			e.fatalf("writer: Write: %s", describe(err))
		}
		if err := w.CloseWrite(); err != nil {
			e.fatalf("writer: CloseWrite: %s", describe(err))
		}
		err = w.Drain(e.ctx)
		drainSeq = seq.Add(1)
		return err
	})
	pr := &probeReader{r: r, size: size, pause: 50 * time.Millisecond, seq: &seq}
	v := newVerifier(seed)
	if _, err := io.Copy(v, pr); err != nil { // to io.EOF
		e.fatalf("reader: read %d of %d bytes, then %s", v.n, size, describe(err))
	}
	err := recv(e, drained)
	if msg, ok := v.check(size, sent); !ok {
		e.errorf("reader: the stream differs from what was written: %s", msg)
	}
	if err != nil {
		e.fatalf("writer: Drain after the reader read io.EOF: %s, want nil", describe(err))
	}
	if drainSeq < pr.lastCall {
		e.errorf("writer: Drain returned nil before the reader called the Read that returned io.EOF (event %d < %d): Drain must wait until the reader has read EOF", drainSeq, pr.lastCall)
	}
}

// testDuplex sends a stream each way at once, each side by another path:
// a writes its stream in one Write (larger than the window) and reads with
// io.Copy (so through its WriteTo method, if it has one); b writes with
// io.Copy (through ReadFrom, if it has one) and reads with Read.
func testDuplex(e *env, a, b Conn) {
	size := e.cfg.duplexSize()
	type result struct {
		sent []byte
		err  error // of Drain
	}
	send := func(name string, c Conn, seed uint64, copy bool) <-chan result {
		ch := make(chan result, 1)
		e.run(func() {
			var sent []byte
			var err error
			if copy {
				h := sha256.New()
				src := io.TeeReader(io.LimitReader(newSource(seed), int64(size)), h)
				var n int64
				if n, err = io.Copy(c, src); err == nil && n != int64(size) {
					err = fmt.Errorf("io.Copy wrote %d of %d bytes and returned no error", n, size)
				}
				sent = h.Sum(nil)
			} else {
				sent, err = sendStream(c, seed, size, -1)
			}
			if err != nil {
				e.fatalf("%s: writing: %s", name, describe(err))
			}
			if err := c.CloseWrite(); err != nil {
				e.fatalf("%s: CloseWrite: %s", name, describe(err))
			}
			ch <- result{sent, c.Drain(e.ctx)}
		})
		return ch
	}
	receive := func(name string, r io.Reader, seed uint64) <-chan *verifier {
		ch := make(chan *verifier, 1)
		e.run(func() {
			v := newVerifier(seed)
			if _, err := io.Copy(v, r); err != nil {
				e.fatalf("%s: read %d of %d bytes, then %s", name, v.n, size, describe(err))
			}
			ch <- v
		})
		return ch
	}
	sentA, sentB := send("a", a, 2, false), send("b", b, 3, true)
	gotA, gotB := receive("a", a, 3), receive("b", struct{ io.Reader }{b}, 2)
	for _, dir := range []struct {
		name string
		sent <-chan result
		got  <-chan *verifier
	}{{"a to b", sentA, gotB}, {"b to a", sentB, gotA}} {
		v, res := recv(e, dir.got), recv(e, dir.sent)
		if msg, ok := v.check(size, res.sent); !ok {
			e.errorf("%s: the stream differs from what was written: %s", dir.name, msg)
		}
		if res.err != nil {
			e.errorf("%s: the writer's Drain: %s, want nil", dir.name, describe(res.err))
		}
	}
}

// testCloseDelivers checks that Close, like closing a socket, returns at
// once and still delivers what was written before it (1 MiB, or a window if
// that is less, so that the Write returns), then io.EOF.
func testCloseDelivers(e *env, a, b Conn) {
	data := randomBytes(5, min(1<<20, e.cfg.window()))
	if err := writeAll(a, data); err != nil {
		e.fatalf("a: Write: %s", describe(err))
	}
	closed := e.goErr(a.Close)
	// b reads only once Close has returned: Close must not wait for it.
	switch err, ok := within(e, 2*time.Second, closed); {
	case !ok:
		e.errorf("a: Close blocked for 2s while the peer was not reading: Close must return at once")
	case err != nil:
		e.errorf("a: Close: %s", describe(err))
	}
	got, err := io.ReadAll(b)
	if err != nil {
		e.fatalf("b: read %d of %d bytes, then %s; want everything written before Close, then io.EOF", len(got), len(data), describe(err))
	}
	if msg, ok := compare(got, data); !ok {
		e.errorf("b: the stream differs from what a wrote before Close: %s", msg)
	}
}

// testConcurrentWrites has many goroutines write 64-byte records at once,
// some several records in one Write. Writes are serialized, so each Write
// must arrive whole and each writer's records in order.
func testConcurrentWrites(e *env, a, b Conn) {
	const writers, perWriter = 16, 500
	var wg sync.WaitGroup
	for id := range writers {
		wg.Add(1)
		e.run(func() {
			defer wg.Done()
			buf := make([]byte, 0, 4*recordSize)
			for seq := 0; seq < perWriter; {
				buf = buf[:0]
				for range min(1+(id+seq)%4, perWriter-seq) { // 1 to 4 records per Write
					buf = appendRecord(buf, id, seq)
					seq++
				}
				if n, err := a.Write(buf); err != nil || n != len(buf) {
					e.fatalf("writer %d: Write of %d bytes: n=%d, %s", id, len(buf), n, describe(err))
				}
			}
		})
	}
	closed := e.goErr(func() error {
		wg.Wait()
		return a.CloseWrite()
	})
	next := make([]int, writers)
	br := bufio.NewReaderSize(b, 32<<10)
	buf := make([]byte, recordSize)
	for i := 0; ; i++ {
		n, err := io.ReadFull(br, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			e.fatalf("reader: record %d: read %d bytes of it, then %s", i, n, describe(err))
		}
		id, seq, ok := parseRecord(buf)
		switch {
		case !ok:
			e.fatalf("reader: record %d (offset %d) is damaged: %x: concurrent Writes interleaved or bytes were lost", i, i*recordSize, buf)
		case id >= writers || seq != next[id]:
			e.fatalf("reader: record %d is writer %d's record %d, want its record %d next", i, id, seq, next[id])
		}
		next[id]++
	}
	for id, n := range next {
		if n != perWriter {
			e.errorf("reader: got %d records from writer %d, want %d", n, id, perWriter)
		}
	}
	if err := recv(e, closed); err != nil {
		e.errorf("a: CloseWrite: %s", describe(err))
	}
	if err := a.Drain(e.ctx); err != nil {
		e.errorf("a: Drain: %s", describe(err))
	}
}

const recordSize = 64

// appendRecord appends writer id's record seq: id and seq, a payload that
// depends on both, and a CRC-32 of the rest.
func appendRecord(b []byte, id, seq int) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(id))
	b = binary.BigEndian.AppendUint32(b, uint32(seq))
	for i := range recordSize - 12 {
		b = append(b, byte(id*131+seq*7+i))
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// parseRecord checks a record and returns its writer and sequence number.
func parseRecord(b []byte) (id, seq int, ok bool) {
	if crc32.ChecksumIEEE(b[:recordSize-4]) != binary.BigEndian.Uint32(b[recordSize-4:]) {
		return 0, 0, false
	}
	id, seq = int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
	for i := range recordSize - 12 {
		if b[8+i] != byte(id*131+seq*7+i) {
			return 0, 0, false
		}
	}
	return id, seq, true
}

// testDrain checks Drain before CloseWrite: it honours its context while
// the reader does not read, and returns nil, promptly, only once the reader
// has read every byte written.
func testDrain(e *env, w, r Conn) {
	data := randomBytes(6, min(64<<10, e.cfg.window()))
	if err := writeAll(w, data); err != nil {
		e.fatalf("writer: Write: %s", describe(err))
	}
	ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	start := time.Now()
	err := w.Drain(ctx)
	cancel()
	switch d := time.Since(start); {
	case !errors.Is(err, context.DeadlineExceeded):
		e.errorf("writer: Drain with a 100ms context, the reader not reading: %s; want context.DeadlineExceeded", describe(err))
	case d > time.Second:
		e.errorf("writer: Drain with a 100ms context returned after %v", d.Round(time.Millisecond))
	}

	var seq atomic.Int64
	var drainSeq int64
	drained := e.goErr(func() error {
		err := w.Drain(e.ctx)
		drainSeq = seq.Add(1)
		return err
	})
	e.sleep(50 * time.Millisecond) // Drain must wait for the reader
	pr := &probeReader{r: r, size: len(data), seq: &seq}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(pr, got); err != nil {
		e.fatalf("reader: %s", describe(err))
	}
	lastByte := pr.lastCall // the Read that returned the last byte began here
	if msg, ok := compare(got, data); !ok {
		e.errorf("reader: %s", msg)
	}
	// Ask for more: nothing comes, but the reader has dealt with all it had.
	r.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := r.Read(make([]byte, 1)); timeoutErr(err) != "" {
		e.errorf("reader: Read with nothing more written: %d bytes, %s", n, timeoutErr(err))
	}
	r.SetReadDeadline(time.Time{})
	switch err, ok := within(e, 2*time.Second, drained); {
	case !ok:
		e.fatalf("writer: Drain still waiting 2s after the reader read everything")
	case err != nil:
		e.errorf("writer: Drain: %s, want nil", describe(err))
	case drainSeq < lastByte:
		e.errorf("writer: Drain returned nil before the reader read the last byte (event %d < %d)", drainSeq, lastByte)
	}
	if err := w.CloseWrite(); err != nil {
		e.fatalf("writer: CloseWrite: %s", describe(err))
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		e.errorf("reader: Read after CloseWrite: %d bytes, %s; want io.EOF", n, describe(err))
	}
	if err := w.Drain(e.ctx); err != nil {
		e.errorf("writer: Drain after EOF: %s", describe(err))
	}
}
