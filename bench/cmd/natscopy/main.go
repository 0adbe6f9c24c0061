// Command natscopy is the ceiling of the benchmark's relay part: the least
// a Go program must do to move standard input through a NATS server to
// another standard output with core NATS messages, and check it arrived.
//
//	natscopy serve --listen HOST:PORT
//	producer | natscopy pub --server nats://HOST:PORT --subject S [--msg 64KiB] [--window 8MiB]
//	natscopy sub --server nats://HOST:PORT --subject S [--msg 64KiB] [--window 8MiB] | consumer
//
// serve runs an embedded nats-server (github.com/nats-io/nats-server/v2,
// no JetStream, no authentication) until SIGTERM or SIGINT: the relay of
// the benchmark until `farpipe relay` exists.
//
// Both grow their standard input or output pipe to 1 MiB, as farpipe and
// gocopy do. pub reads standard input in messages of --msg bytes (io.ReadFull, so every
// message but the last is full) and publishes them on S.data with
// github.com/nats-io/nats.go; sub writes each payload to standard output
// through a 1 MiB buffer. The window is a credit scheme: pub has at most
// --window bytes of messages unacknowledged, and sub publishes a credit on
// S.ack for every quarter of the window it has written out, so neither the
// server nor sub buffers more than a window. At the end pub sends an empty
// message with a header carrying the checksum of everything it read
// (--sum: CRC-32C by default, farpipe's own stream checksum, which costs
// little; or SHA-256, or none), as a request; sub compares it with the
// checksum of everything it wrote, replies
// and exits 0 only if they match; pub exits 0 only if sub said they did.
// Before the first byte, pub asks S.ready until sub answers, so either may
// start first. No encryption, no resume, no reordering or loss handling:
// core NATS keeps one publisher's messages to one subscriber in order, and
// a loss shows up as a checksum mismatch.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Headers of the last message: it is the end, and the stream's checksum.
const (
	endHeader = "Natscopy-End"
	sumHeader = "Natscopy-Sum"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

const usage = "farpipe bench: natscopy: usage: natscopy serve --listen HOST:PORT | natscopy pub|sub --server URL --subject S [--msg 64KiB] [--window 8MiB] [--wait 10s]"

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("natscopy "+verb, flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4222", "serve: the address to listen at")
	url := fs.String("server", "nats://127.0.0.1:4222", "pub, sub: the NATS server")
	subject := fs.String("subject", "natscopy", "pub, sub: the subject prefix")
	msg := fs.String("msg", "64KiB", "pub, sub: bytes per message")
	window := fs.String("window", "8MiB", "pub, sub: most bytes in flight")
	wait := fs.Duration("wait", 10*time.Second, "pub: how long to wait for sub")
	sumName := fs.String("sum", "crc32c", "pub, sub: the checksum of the stream: crc32c (farpipe's own), sha256 or none")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("farpipe bench: natscopy %s: %v", verb, err)
	}
	if fs.NArg() != 0 {
		return errors.New(usage)
	}
	if verb == "serve" {
		return serve(*listen)
	}
	m, err1 := humanize.ParseBytes(*msg)
	w, err2 := humanize.ParseBytes(*window)
	if err1 != nil || err2 != nil || m < 1 || m > 1<<20 || w < m {
		return fmt.Errorf("farpipe bench: natscopy: --msg %q, --window %q: give 1B to 1MiB per message and a window of at least one message", *msg, *window)
	}
	newSum, ok := sums[*sumName]
	if !ok {
		return fmt.Errorf("farpipe bench: natscopy: --sum %q: choose crc32c, sha256 or none", *sumName)
	}
	credit := max(int(w/m)/4, 1) // messages per credit message
	c := copier{subject: *subject, msgSize: int(m), credits: 4 * credit, batch: credit, newSum: newSum}
	closed := make(chan struct{})
	nc, err := nats.Connect(*url, nats.Name("natscopy "+verb), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		return fmt.Errorf("farpipe bench: natscopy %s: %v", verb, err)
	}
	defer nc.Close()
	switch verb {
	case "pub":
		growPipe(os.Stdin)
		err = c.pub(nc, os.Stdin, *wait)
	case "sub":
		growPipe(os.Stdout)
		err = c.sub(nc, os.Stdout, closed)
	default:
		return errors.New(usage)
	}
	if err != nil {
		return fmt.Errorf("farpipe bench: natscopy %s: %v", verb, err)
	}
	return nil
}

// serve runs an embedded NATS server at addr until SIGTERM or SIGINT.
func serve(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		return fmt.Errorf("farpipe bench: natscopy serve: --listen %q: give HOST:PORT", addr)
	}
	s, err := server.NewServer(&server.Options{Host: host, Port: p, NoLog: true, NoSigs: true, MaxPayload: 1 << 20})
	if err != nil {
		return fmt.Errorf("farpipe bench: natscopy serve: %v", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("farpipe bench: natscopy serve: the server did not start at %s within 10s", addr)
	}
	fmt.Printf("nats://%s\n", addr)
	<-sig
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// copier is one end of a copy.
type copier struct {
	subject string
	msgSize int // bytes per message
	credits int // messages pub may have unacknowledged
	batch   int // messages per credit message
	newSum  func() hash.Hash
}

// sums are the checksums --sum chooses from.
var sums = map[string]func() hash.Hash{
	"crc32c": func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"sha256": sha256.New,
	"none":   func() hash.Hash { return noSum{} },
}

// noSum is a checksum that checks nothing.
type noSum struct{}

func (noSum) Write(p []byte) (int, error) { return len(p), nil }
func (noSum) Sum(b []byte) []byte         { return b }
func (noSum) Reset()                      {}
func (noSum) Size() int                   { return 0 }
func (noSum) BlockSize() int              { return 1 }

// pub publishes r on subject.data.
func (c copier) pub(nc *nats.Conn, r io.Reader, wait time.Duration) error {
	credit := make(chan struct{}, c.credits)
	for range c.credits {
		credit <- struct{}{}
	}
	ack, err := nc.Subscribe(c.subject+".ack", func(m *nats.Msg) {
		n, _ := strconv.Atoi(string(m.Data))
		for range n {
			select {
			case credit <- struct{}{}:
			default: // more credit than was ever taken: a bug in sub; the checksum will tell
			}
		}
	})
	if err != nil {
		return err
	}
	defer ack.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}
	if err := awaitSub(nc, c.subject+".ready", wait); err != nil {
		return err
	}
	// One goroutine reads standard input while this one publishes, as
	// farpipe reads its standard input while it writes: four buffers go
	// round between them.
	free, full := make(chan []byte, 4), make(chan chunk, 4)
	for range 4 {
		free <- make([]byte, c.msgSize)
	}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(full)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			n, err := io.ReadFull(r, buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case full <- chunk{buf[:n], err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-readerDone
	}()
	sum := c.newSum()
	data := c.subject + ".data"
	for ch := range full {
		if len(ch.b) > 0 {
			select {
			case <-credit:
			case <-time.After(30 * time.Second):
				return errors.New("no credit from sub for 30s")
			}
			sum.Write(ch.b)
			if err := nc.Publish(data, ch.b); err != nil {
				return err
			}
		}
		if ch.err == io.EOF {
			break
		}
		if ch.err != nil {
			return fmt.Errorf("reading standard input: %v", ch.err)
		}
		free <- ch.b[:cap(ch.b)]
	}
	last := nats.NewMsg(data)
	last.Header.Set(endHeader, "1")
	last.Header.Set(sumHeader, hex.EncodeToString(sum.Sum(nil)))
	reply, err := nc.RequestMsg(last, 30*time.Second)
	if err != nil {
		return fmt.Errorf("the end of the stream: %v", err)
	}
	if string(reply.Data) != "ok" {
		return fmt.Errorf("sub says: %s", reply.Data)
	}
	return nil
}

// chunk is what one read of standard input gave.
type chunk struct {
	b   []byte
	err error
}

// awaitSub asks subject until sub answers or wait has passed.
func awaitSub(nc *nats.Conn, subject string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		_, err := nc.Request(subject, nil, 100*time.Millisecond)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no sub answered on %s within %s: %v", subject, wait, err)
		}
		if errors.Is(err, nats.ErrNoResponders) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// sub writes the payloads of subject.data to w until the last message, or
// until the connection to the server is closed.
func (c copier) sub(nc *nats.Conn, w io.Writer, closed <-chan struct{}) error {
	out := bufio.NewWriterSize(w, 1<<20)
	sum := c.newSum()
	done := make(chan error, 1)
	var got, unacked int
	finished := false // the callbacks of one subscription run one at a time
	finish := func(m *nats.Msg, err error) {
		if finished {
			return
		}
		finished = true
		reply := "ok"
		if err != nil {
			reply = err.Error()
		}
		m.Respond([]byte(reply))
		nc.Flush()
		done <- err
	}
	data, err := nc.Subscribe(c.subject+".data", func(m *nats.Msg) {
		if finished {
			return
		}
		if m.Header.Get(endHeader) != "" {
			want := m.Header.Get(sumHeader)
			if err := out.Flush(); err != nil {
				finish(m, fmt.Errorf("writing standard output: %v", err))
				return
			}
			if have := hex.EncodeToString(sum.Sum(nil)); have != want {
				finish(m, fmt.Errorf("checksum mismatch after %d messages: received %s, sent %s", got, have, want))
				return
			}
			finish(m, nil)
			return
		}
		got++
		sum.Write(m.Data)
		if _, err := out.Write(m.Data); err != nil {
			finish(m, fmt.Errorf("writing standard output: %v", err))
			return
		}
		if unacked++; unacked == c.batch {
			unacked = 0
			nc.Publish(c.subject+".ack", []byte(strconv.Itoa(c.batch)))
		}
	})
	if err != nil {
		return err
	}
	defer data.Unsubscribe()
	// The window bounds what waits; lift the client's own limits above it.
	data.SetPendingLimits(-1, -1)
	ready, err := nc.Subscribe(c.subject+".ready", func(m *nats.Msg) { m.Respond(nil) })
	if err != nil {
		return err
	}
	defer ready.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-closed:
		return fmt.Errorf("the connection to the server closed before the end of the stream: %v", nc.LastError())
	}
}
