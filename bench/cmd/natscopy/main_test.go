package main

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer runs an embedded NATS server on a free loopback port.
func startServer(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
}

// connect opens a connection and the channel closed when it closes.
func connect(t *testing.T, url string) (*nats.Conn, chan struct{}) {
	t.Helper()
	closed := make(chan struct{})
	nc, err := nats.Connect(url, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		<-closed
	})
	return nc, closed
}

// copyThrough moves in from a pub with sum pubSum to a sub with subSum
// and returns what sub wrote and both errors.
func copyThrough(t *testing.T, url, subject string, in []byte, msg int, pubSum, subSum string) ([]byte, error, error) {
	pubConn, _ := connect(t, url)
	subConn, subClosed := connect(t, url)
	c := copier{subject: subject, msgSize: msg, credits: 8, batch: 2}
	var out bytes.Buffer
	subErr := make(chan error, 1)
	sc := c
	sc.newSum = sums[subSum]
	go func() { subErr <- sc.sub(subConn, &out, subClosed) }()
	c.newSum = sums[pubSum]
	perr := c.pub(pubConn, bytes.NewReader(in), 10*time.Second)
	serr := <-subErr
	return out.Bytes(), perr, serr
}

func TestCopy(t *testing.T) {
	url := startServer(t)
	const msg = 4096
	for _, sum := range []string{"crc32c", "sha256", "none"} {
		for _, size := range []int{0, 1, msg - 1, msg, 3*msg + 5, 40 * msg} {
			in := make([]byte, size)
			rand.NewChaCha8([32]byte{byte(size)}).Read(in)
			subject := "t." + sum + "." + string(rune('a'+size%26))
			out, perr, serr := copyThrough(t, url, subject, in, msg, sum, sum)
			if perr != nil || serr != nil {
				t.Errorf("%s, %d bytes: pub: %v, sub: %v", sum, size, perr, serr)
				continue
			}
			if !bytes.Equal(out, in) {
				t.Errorf("%s, %d bytes: %d bytes arrived, not the same", sum, size, len(out))
			}
		}
	}
}

// TestMismatch checks that a checksum that does not match fails both ends.
func TestMismatch(t *testing.T) {
	url := startServer(t)
	_, perr, serr := copyThrough(t, url, "mismatch", make([]byte, 10000), 4096, "sha256", "crc32c")
	if serr == nil || !strings.Contains(serr.Error(), "checksum mismatch") {
		t.Errorf("sub: %v, want a checksum mismatch", serr)
	}
	if perr == nil || !strings.Contains(perr.Error(), "checksum mismatch") {
		t.Errorf("pub: %v, want sub's checksum mismatch", perr)
	}
}
