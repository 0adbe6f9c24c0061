package farpipe_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
)

// TestPeerName: a name sent with SendName arrives, beside the stream, and
// the stream itself is unchanged.
func TestPeerName(t *testing.T) {
	tests := []struct {
		name    string
		send    bool // the dialer calls SendName
		closeIt bool // the dialer closes without SendName
		want    string
		wantErr error
	}{
		{"a name", true, false, "web-1 (eu)", nil},
		{"empty: use the address", true, false, "", nil},
		{"never sent: the context ends", false, false, "", context.DeadlineExceeded},
		{"closed without a name", false, true, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, l, stop, err := makePipe(t)()
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			dc, lc := d.(*farpipe.Conn), l.(*farpipe.Conn)
			if tt.send {
				if err := dc.SendName(tt.want); err != nil {
					t.Fatal(err)
				}
			}
			go func() {
				dc.Write([]byte("payload"))
				if tt.closeIt {
					dc.Close()
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			if tt.send || tt.closeIt {
				ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
			}
			defer cancel()
			got, err := lc.PeerName(ctx)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("PeerName: %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			p := make([]byte, 7)
			if _, err := io.ReadFull(lc, p); err != nil || string(p) != "payload" {
				t.Fatalf("stream: %q, %v", p, err)
			}
		})
	}
}

func TestSendNameRefusesBadNames(t *testing.T) {
	d, _, stop, err := makePipe(t)()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, name := range []string{"two\nlines", "tab\there", strings.Repeat("x", farpipe.MaxNameLen+1), "\xff"} {
		if err := d.(*farpipe.Conn).SendName(name); !errors.Is(err, farpipe.ErrBadName) {
			t.Errorf("SendName(%q): %v, want ErrBadName", name, err)
		}
	}
}
