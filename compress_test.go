package farpipe_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
)

// pairWith returns a dialed and an accepted Conn over loopback TCP, each
// with its own options.
func pairWith(t testing.TB, dialOpts, listenOpts []farpipe.Option) (d, l *farpipe.Conn) {
	t.Helper()
	ctx := context.Background()
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0", listenOpts...)
	if err != nil {
		t.Fatal(err)
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
	d, err = farpipe.Dial(ctx, ln.URL(), dialOpts...)
	r := <-ch
	if err != nil || r.err != nil {
		t.Fatalf("dial: %v; accept: %v", err, r.err)
	}
	t.Cleanup(func() {
		d.Abort("test over")
		r.c.Abort("test over")
		d.Wait()
		r.c.Wait()
	})
	return d, r.c
}

// logLines returns n bytes of text that looks like a server's log.
func logLines(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "2026-11-30T04:%02d:%02d.%03dZ INFO http: GET /api/v1/items/%d status=200 bytes=%d duration=%dms client=10.0.%d.%d\n",
			i/60%60, i%60, i%1000, i*7%10007, 100+i*13%5000, i%97, i%256, i*3%256)
	}
	return b.Bytes()[:n]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var zstd = []farpipe.Option{farpipe.WithCompression("zstd")}

// TestCompressTransfer sends streams through compressed Conns, with the
// compression asked by either side, through Write and ReadFrom: the bytes
// arrive whole, text takes at least 3 times fewer bytes on the session
// than it has, and Stats count the application's bytes.
func TestCompressTransfer(t *testing.T) {
	tests := []struct {
		name             string
		data             []byte
		dialOpts, lnOpts []farpipe.Option
		readFrom         bool
		want             string // compression used
		minRatio         float64
	}{
		{"empty, dialer asks", nil, zstd, nil, false, "zstd", 0},
		{"one byte, listener insists", []byte("x"), nil, zstd, true, "zstd", 0},
		{"logs, dialer asks", logLines(2 << 20), zstd, nil, true, "zstd", 3},
		{"logs by Write, listener insists", logLines(1 << 20), nil, zstd, false, "zstd", 3},
		{"random", randomBytes(1 << 20), zstd, nil, true, "zstd", 0},
		// Raw blocks for the random part, compression again at the logs.
		{"random, then logs", append(randomBytes(1<<20), logLines(4<<20)...), zstd, nil, true, "zstd", 3},
		// ReadFrom's raw blocks in place: spans that end (4 MiB, then 8),
		// the encoder again between them and at the logs, reads of every
		// size (regions at the ring's end smaller than a block).
		{"random, logs, random in reads of every size", append(append(randomBytes(13<<20), logLines(1<<20)...), randomBytes(5<<20)...), zstd, nil, true, "zstd", 0},
		{"listener refuses", logLines(1 << 20), zstd, []farpipe.Option{farpipe.WithCompression("none")}, true, "none", 0},
		{"nobody asks", logLines(1 << 20), nil, nil, false, "none", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, l := pairWith(t, tc.dialOpts, tc.lnOpts)
			if d.Compression() != tc.want || l.Compression() != tc.want {
				t.Fatalf("dialer compresses with %s, listener with %s; want %s", d.Compression(), l.Compression(), tc.want)
			}
			errc := make(chan error, 1)
			go func() {
				var err error
				switch {
				case tc.readFrom && strings.Contains(tc.name, "every size"):
					_, err = d.ReadFrom(&chunkReader{data: tc.data})
				case tc.readFrom:
					_, err = d.ReadFrom(bytes.NewReader(tc.data))
				default:
					_, err = d.Write(tc.data)
				}
				if err == nil {
					err = d.CloseWrite()
				}
				if err == nil {
					err = d.Drain(context.Background())
				}
				errc <- err
			}()
			var got bytes.Buffer
			if _, err := l.WriteTo(&got); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), tc.data) {
				t.Fatalf("received %d bytes that differ from the %d sent", got.Len(), len(tc.data))
			}
			st, rst := d.Stats(), l.Stats()
			n := uint64(len(tc.data))
			if st.Written != n || st.Delivered != n || rst.Read != n {
				t.Errorf("stats: written %d, delivered %d, read %d; want %d", st.Written, st.Delivered, rst.Read, n)
			}
			if st.WireWritten != rst.WireRead {
				t.Errorf("%d bytes on the wire sent, %d received", st.WireWritten, rst.WireRead)
			}
			ratio := float64(n) / float64(max(st.WireWritten, 1))
			if tc.name == "random" && st.WireWritten > n+n/1000 {
				t.Errorf("random data took %d bytes on the wire for %d: more than 0.1%% overhead", st.WireWritten, n)
			}
			t.Logf("%d bytes took %d on the wire: %.1f×", n, st.WireWritten, ratio)
			if ratio < tc.minRatio {
				t.Errorf("compression ratio %.2f, want at least %.0f", ratio, tc.minRatio)
			}
		})
	}
}

// chunkReader returns data in reads of sizes from 1 byte to 300 KiB.
type chunkReader struct {
	data []byte
	i    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.i++
	size := []int{1, 700, 1500, 4 << 10, 9 << 10, 64 << 10, 300 << 10}[r.i*5%7]
	n := copy(p, r.data[:min(size, len(r.data))])
	r.data = r.data[n:]
	return n, nil
}

// TestCompressInteractive: a line written through a compressed Conn
// arrives while the writer waits for the answer, by Write and by ReadFrom
// from a pipe (what connect and exec do with standard input), in both
// directions.
func TestCompressInteractive(t *testing.T) {
	for _, readFrom := range []bool{false, true} {
		t.Run(fmt.Sprintf("readFrom=%v", readFrom), func(t *testing.T) {
			d, l := pairWith(t, zstd, nil)
			pr, pw := io.Pipe()
			copied := make(chan error, 1)
			if readFrom {
				go func() { _, err := d.ReadFrom(pr); copied <- err }()
			}
			out := d.Write
			if readFrom {
				out = pw.Write
			}
			// The listener echoes each line back, upper-cased.
			echoed := make(chan error, 1)
			go func() {
				br := bufio.NewReader(l)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						echoed <- err
						return
					}
					if _, err := l.Write([]byte(strings.ToUpper(line))); err != nil {
						echoed <- err
						return
					}
				}
			}()
			br := bufio.NewReader(d)
			for i := range 20 {
				line := fmt.Sprintf("line %d\n", i)
				if _, err := out([]byte(line)); err != nil {
					t.Fatal(err)
				}
				got := make(chan string, 1)
				go func() { s, _ := br.ReadString('\n'); got <- s }()
				select {
				case s := <-got:
					if s != strings.ToUpper(line) {
						t.Fatalf("echo %q, want %q", s, strings.ToUpper(line))
					}
				case <-time.After(10 * time.Second):
					d.Abort("no echo")
					<-got
					t.Fatalf("line %d did not come back within 10 s: it stays in the encoder", i)
				}
			}
			pw.Close()
			if readFrom {
				if err := <-copied; err != nil {
					t.Fatal(err)
				}
			}
			d.CloseWrite()
			if err := <-echoed; err != io.EOF {
				t.Fatalf("echo ended with %v, want EOF", err)
			}
		})
	}
}

// TestCompressHostile: a peer that agreed to compress but sends bytes
// that are no Zstandard stream, or one that asks for a huge window, gets
// its session aborted; the reader gets ErrCompressed in one line.
func TestCompressHostile(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"not zstd", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		// Magic, a frame header whose window descriptor asks for 2 GiB.
		{"huge window", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 0x00, 0x00, 0x00}},
		// A valid frame header, then a compressed block of garbage.
		{"corrupt block", append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x48, 0x15, 0x01, 0x00}, bytes.Repeat([]byte{0xff}, 40)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, l := pairWith(t, zstd, nil)
			// Channel 0 of the session, under the compression.
			if _, err := d.Channel(0).Write(tc.in); err != nil {
				t.Fatal(err)
			}
			d.Channel(0).CloseWrite()
			_, err := io.Copy(io.Discard, l)
			if !errors.Is(err, farpipe.ErrCompressed) || strings.Count(err.Error(), "\n") != 0 || !strings.HasPrefix(err.Error(), "farpipe: ") {
				t.Fatalf("reading: %v; want ErrCompressed in one line", err)
			}
			t.Log(err)
			if _, err := l.Read(make([]byte, 1)); !errors.Is(err, farpipe.ErrCompressed) {
				t.Fatalf("read after the failure: %v, want ErrCompressed again", err)
			}
			<-d.Done()
			var ae *farpipe.AbortError
			if !errors.As(d.Err(), &ae) {
				t.Fatalf("the sender's session ended with %v, want an abort", d.Err())
			}
		})
	}
}

// TestResumeCompressed: compression sits above the session, so a
// resumption resends compressed bytes exactly and the stream arrives
// whole through random resets, both ways.
func TestResumeCompressed(t *testing.T) {
	data := append(logLines(4<<20), append(random(1<<20, 3), logLines(1<<20)...)...)
	for _, dir := range []string{"dialer writes", "listener writes"} {
		t.Run(dir, func(t *testing.T) {
			d, a, p := faultPipe(t, farpipe.WithCompression("zstd"))
			if d.Compression() != "zstd" || a.Compression() != "zstd" {
				t.Fatalf("compressions %s and %s, want zstd", d.Compression(), a.Compression())
			}
			from, to := d, a
			if dir == "listener writes" {
				from, to = a, d
			}
			ctx, cancel := context.WithCancel(context.Background())
			resets := p.ResetEvery(ctx, t, 100*time.Millisecond, 500*time.Millisecond)
			transfer(t, from, to, data, 4<<20, nil) // about 1.5 s
			cancel()
			n := <-resets
			st := from.Stats()
			t.Logf("%d MiB as %d bytes on the wire through %d resets: %d reconnects, %d bytes resent",
				len(data)>>20, st.WireWritten, n, st.Reconnects, st.Resent)
			if n > 0 && st.Reconnects == 0 {
				t.Errorf("%d resets but no reconnect", n)
			}
		})
	}
}
