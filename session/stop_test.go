package session

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe/wire"
)

// TestCloseWithError: the reason a reader gives when it closes reaches the
// writer's broken pipe; the first close wins.
func TestCloseWithError(t *testing.T) {
	long := strings.Repeat("x", 2*wire.MaxReason)
	for _, tc := range []struct {
		name   string
		close  func(st *Stream)
		reason string
	}{
		{"CloseRead says nothing", func(st *Stream) { st.CloseRead() }, ""},
		{"a nil error says nothing", func(st *Stream) { st.CloseWithError(nil) }, ""},
		{"the reason reaches the writer", func(st *Stream) {
			st.CloseWithError(fmt.Errorf("farpipe: the receiver could not write its output: %w", errors.New("no space left on device")))
		}, "the receiver could not write its output: no space left on device"},
		{"a long reason is cut", func(st *Stream) { st.CloseWithError(errors.New(long)) }, long[:wire.MaxReason]},
		{"the first close wins", func(st *Stream) {
			st.CloseRead()
			st.CloseWithError(errors.New("too late"))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t, nil)
			tc.close(s.Stream(0))
			if _, err := s.Stream(0).Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Read after the close: %v, want ErrClosed", err)
			}
			var err error
			for err == nil {
				_, err = c.Stream(0).Write(bytes.Repeat([]byte{'x'}, 1<<16))
			}
			var bp *BrokenPipeError
			if !errors.As(err, &bp) || !errors.Is(err, ErrBrokenPipe) {
				t.Fatalf("got %v, want a broken pipe", err)
			}
			if bp.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", bp.Reason, tc.reason)
			}
			if tc.reason != "" && !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("the error %q does not say the reason", err)
			}
		})
	}
}

// TestStatsRTT: once a keepalive went back and forth, Stats reports its
// round trip.
func TestStatsRTT(t *testing.T) {
	cfg := DefaultConfig()
	cfg.KeepaliveInterval, cfg.KeepaliveTimeout = 20*time.Millisecond, 5*time.Second
	c, _ := pair(t, cfg)
	for range 1000 { // a PING every 20 ms: 20 s at most
		if c.Stats().RTT > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("RTT is still 0 after keepalives")
}
