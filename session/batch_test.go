package session

import (
	"bytes"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"

	"github.com/farpipe/farpipe/wire"
)

// recorder is a connection that keeps what is written to it.
type recorder struct {
	net.Conn
	out bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) { return r.out.Write(p) }

// TestBatchFrames: one batch carries up to maxBatchFrames DATA frames and
// batchData bytes of what a stream has to send, a frame never crosses the
// end of the ring, and every frame is in order, where the stream says,
// and tagged so that the peer's verification accepts it.
func TestBatchFrames(t *testing.T) {
	const window = 8 << 20
	const frame = 256 << 10
	for _, tt := range []struct {
		name    string
		sent    uint64 // where sending resumes
		pending uint64 // written but not sent
		tags    bool
		frame   int   // Config.FrameSize; 0: the default
		want    []int // payload sizes of the frames of the first batch
	}{
		{"one small frame", 0, 100, true, 0, []int{100}},
		{"a frame and a part", 0, frame + 1, true, 0, []int{frame, 1}},
		{"four frames at most", 0, 3 << 20, true, 0, []int{frame, frame, frame, frame}},
		{"no more than batchData", 0, 3 << 20, true, 640 << 10, []int{640 << 10, 640 << 10}},
		{"split at the end of the ring", window - frame - 100, 3 * frame, true, 0, []int{frame, 100, frame, frame - 100}},
		{"without tags", 5, 2*frame + 7, false, 0, []int{frame, frame, 7}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.frame != 0 {
				cfg.FrameSize = tt.frame
			}
			s := newSession(cfg, wire.RoleDialer)
			defer s.ackTimer.Stop()
			st := s.streams[0]
			w := &st.snd
			w.ring = make([]byte, window)
			rand.NewChaCha8([32]byte{3}).Read(w.ring)
			w.acked, w.sent, w.written = tt.sent, tt.sent, tt.sent+tt.pending
			sendKey, recvKey := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
			b := &batch{}
			var check *frameMAC
			if tt.tags {
				var err error
				if b.mac, err = newFrameMAC(sendKey, recvKey); err != nil {
					t.Fatal(err)
				}
				if check, err = newFrameMAC(recvKey, sendKey); err != nil {
					t.Fatal(err)
				}
			}
			next := 0
			s.mu.Lock()
			s.fillLocked(b, &next)
			s.mu.Unlock()
			b.seal()
			conn := &recorder{}
			if err := b.writeTo(&link{conn: conn}); err != nil {
				t.Fatal(err)
			}

			rd := wire.NewReader(bytes.NewReader(conn.out.Bytes()), 64<<10)
			at := tt.sent
			var got []int
			for {
				h, err := rd.Next()
				if err != nil {
					break
				}
				if h.Type != wire.TypeData || h.Arg != at {
					t.Fatalf("frame %d: %v at offset %d, want DATA at %d", len(got), h.Type, h.Arg, at)
				}
				p := make([]byte, h.Length)
				if err := rd.ReadData(p); err != nil {
					t.Fatal(err)
				}
				pos := at % window
				if pos+uint64(len(p)) > window || !bytes.Equal(p, w.ring[pos:pos+uint64(len(p))]) {
					t.Fatalf("frame %d: payload is not the ring's bytes %d..%d", len(got), pos, pos+uint64(len(p)))
				}
				if tt.tags {
					var tag [TagLen]byte
					if err := rd.ReadTrailer(tag[:]); err != nil {
						t.Fatal(err)
					}
					if err := check.verify(h, p, tag[:]); err != nil {
						t.Fatalf("frame %d: %v", len(got), err)
					}
				}
				got = append(got, len(p))
				at += uint64(len(p))
			}
			if !equalInts(got, tt.want) {
				t.Fatalf("frames of %v bytes, want %v", got, tt.want)
			}
			if w.sent != at {
				t.Fatalf("the stream counts %d bytes sent, the batch carried %d", w.sent-tt.sent, at-tt.sent)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReadAhead: ReadFrom's wait for room stops reading ahead once
// readAhead bytes are waiting for the writeLoop, and the writeLoop taking
// a batch lets it go on; Write is bounded by the window alone.
func TestReadAhead(t *testing.T) {
	s := newSession(DefaultConfig(), wire.RoleDialer)
	defer s.ackTimer.Stop()
	st := s.streams[0]
	w := &st.snd
	w.window = 8 << 20
	w.written = readAhead + 5

	if region, err := st.writable(false, 0); err != nil || len(region) == 0 {
		t.Fatalf("Write's writable: %d bytes, %v; want room", len(region), err)
	}
	type res struct {
		n   int
		err error
	}
	got := make(chan res, 1)
	go func() {
		region, err := st.writable(false, readAhead)
		got <- res{len(region), err}
	}()
	for { // wait until ReadFrom's writable waits for the writeLoop
		s.mu.Lock()
		waiting := w.unsentWait != 0
		s.mu.Unlock()
		if waiting {
			break
		}
		select {
		case r := <-got:
			t.Fatalf("writable returned %d bytes, %v with %d bytes unsent", r.n, r.err, w.written-w.sent)
		default:
			runtime.Gosched()
		}
	}
	b, next := &batch{}, 0
	s.mu.Lock()
	s.fillLocked(b, &next)
	s.mu.Unlock()
	if r := <-got; r.err != nil || r.n == 0 {
		t.Fatalf("after the writeLoop took a batch: %d bytes, %v; want room", r.n, r.err)
	}
}
