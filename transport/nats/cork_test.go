package nats

import (
	"bytes"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/farpipe/farpipe/internal/testrelay"
	"github.com/nats-io/nats-server/v2/server"
)

// TestCorkGathersMessages checks that writes between Cork and Uncork cross
// the relay as whole messages (TLS hands the connection 16 KiB records,
// which would otherwise be a message each), that Uncork and CloseWrite send
// what is left, that uncorked writes go straight out, and that the bytes
// arrive as written; on the default max_payload (1 MiB) and on a small one,
// which a message's header must fit in too.
func TestCorkGathersMessages(t *testing.T) {
	const record = 16<<10 + 22 // a TLS record
	for _, payload := range []int32{0, 64 << 10} {
		r := testrelay.StartWith(t, func(o *server.Options) { o.MaxPayload = payload })
		d0, _ := pair(t, r)
		m := d0.maxMsg
		if want := min(maxData, int(d0.s.nc.MaxPayload())-hdrRoom); m != want || m < 60<<10 {
			t.Fatalf("max_payload %d: messages of %d bytes, want %d", d0.s.nc.MaxPayload(), m, want)
		}
		records := 2*m/record + 3
		for _, tc := range []struct {
			name  string
			cork  bool
			write []int // sizes of the writes
			close bool  // CloseWrite instead of Uncork
			want  []int // sizes of the data messages
		}{
			{"uncorked records", false, []int{record, record, 100}, false, []int{record, record, 100}},
			{"corked records", true, repeat(record, records), false, []int{m, m, records*record - 2*m}},
			{"corked, one huge write", true, []int{3*m + 5}, false, []int{m, m, m, 5}},
			{"corked, huge after small", true, []int{7, 2 * m}, false, []int{m, m, 7}},
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
