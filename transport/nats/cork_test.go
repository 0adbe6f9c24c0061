package nats

import (
	"bytes"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testrelay"
)

// TestCorkGathersMessages checks that writes between Cork and Uncork cross
// the relay as whole messages (TLS hands the connection 16 KiB records,
// which would otherwise be a message each), that Uncork and CloseWrite send
// what is left, that uncorked writes go straight out, and that the bytes
// arrive as written.
func TestCorkGathersMessages(t *testing.T) {
	r := testrelay.Start(t)
	for _, tc := range []struct {
		name  string
		cork  bool
		write []int // sizes of the writes
		close bool  // CloseWrite instead of Uncork
		want  []int // data message sizes, as multiples of maxMsg plus bytes
	}{
		{"uncorked records", false, []int{16 << 10, 16 << 10, 100}, false, []int{16 << 10, 16 << 10, 100}},
		{"corked records", true, repeat(16<<10+22, 40), false, []int{maxData, maxData, 40*(16<<10+22) - 2*maxData}},
		{"corked, one huge write", true, []int{3*maxData + 5}, false, []int{maxData, maxData, maxData, 5}},
		{"corked, huge after small", true, []int{7, 2 * maxData}, false, []int{maxData, maxData, 7}},
		{"corked, ended by CloseWrite", true, []int{100, 200}, true, []int{300}},
		{"corked, nothing", true, nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, a := pair(t, r)
			var (
				mu    sync.Mutex
				sizes []int
			)
			SetTestHook(func(msg []byte, publish func([]byte) error) error {
				if msg[0] == kindData {
					mu.Lock()
					sizes = append(sizes, len(msg)-connHeader)
					mu.Unlock()
				}
				return publish(msg)
			})
			defer SetTestHook(nil)

			var want bytes.Buffer
			got := make(chan []byte, 1)
			go func() {
				var b bytes.Buffer
				a.SetReadDeadline(time.Now().Add(10 * time.Second))
				io.CopyN(&b, a, int64(sum(tc.write)))
				got <- b.Bytes()
			}()
			if tc.cork {
				d.Cork()
			}
			for i, n := range tc.write {
				p := bytes.Repeat([]byte{byte(i + 1)}, n)
				if k, err := d.Write(p); k != n || err != nil {
					t.Fatalf("write %d: %d, %v", i, k, err)
				}
				want.Write(p)
			}
			var err error
			if tc.close {
				err = d.CloseWrite()
			} else if tc.cork {
				err = d.Uncork()
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := <-got; !bytes.Equal(g, want.Bytes()) {
				t.Fatalf("read %d bytes, want the %d written, in order", len(g), want.Len())
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(sizes, tc.want) {
				t.Fatalf("data messages of %v bytes, want %v", sizes, tc.want)
			}
		})
	}
}

func repeat(n, times int) []int {
	s := make([]int, times)
	for i := range s {
		s[i] = n
	}
	return s
}

func sum(s []int) int {
	t := 0
	for _, n := range s {
		t += n
	}
	return t
}
