// Command gocopy is the throughput ceiling of the farpipe benchmark: the
// least a pipeline tool must do to move standard input over TCP to a
// standard output on another host, written in Go.
//
//	producer | gocopy send [--tls|--verify] [--wait 10s] HOST:PORT
//	gocopy recv [--tls|--verify] --listen HOST:PORT | consumer
//
// It grows its standard input or output pipe to 1 MiB, moves bytes with
// plain read and write calls through 1 MiB buffers (no splice, no
// framing, no checksum, no resume) and, with --tls, wraps the connection
// in crypto/tls TLS 1.3 with AES-128-GCM and an ephemeral certificate that
// the sender does not verify. With --verify it frames the stream instead,
// checking every byte the way farpipe --no-encrypt does, with a tag on
// every frame and a checksum of the stream, and nothing else (verify.go).
// It is a measuring stick, not a tool: it has no authentication and holds
// up to 1 MiB before writing it out.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// bufSize is the size of every read and write.
const bufSize = 1 << 20

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || (args[0] != "send" && args[0] != "recv") {
		return errors.New("farpipe bench: gocopy: usage: gocopy send [--tls|--verify] [--wait DURATION] HOST:PORT | gocopy recv [--tls|--verify] --listen HOST:PORT")
	}
	verb := args[0]
	fs := flag.NewFlagSet("gocopy "+verb, flag.ContinueOnError)
	useTLS := fs.Bool("tls", false, "TLS 1.3 with AES-128-GCM and an ephemeral certificate")
	verify := fs.Bool("verify", false, "tag every 256 KiB frame with AES-128-GCM and check a CRC-32C of the stream, as farpipe --no-encrypt does")
	wait := fs.Duration("wait", 10*time.Second, "send: keep dialing for this long until the listener is up")
	listen := fs.String("listen", "", "recv: the address to listen at")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("farpipe bench: gocopy %s: %v", verb, err)
	}
	if *useTLS && *verify {
		return errors.New("farpipe bench: gocopy: --tls and --verify do not combine")
	}
	mode := plainCopy
	switch {
	case *useTLS:
		mode = tlsCopy
	case *verify:
		mode = verifiedCopy
	}
	if verb == "send" {
		if fs.NArg() != 1 {
			return errors.New("farpipe bench: gocopy send takes exactly one address")
		}
		return send(fs.Arg(0), mode, *wait)
	}
	if *listen == "" || fs.NArg() != 0 {
		return errors.New("farpipe bench: gocopy recv takes --listen HOST:PORT and no argument")
	}
	return recv(*listen, mode)
}

// mode is how gocopy moves the bytes.
type mode int

const (
	plainCopy    mode = iota // plain read and write
	tlsCopy                  // through crypto/tls
	verifiedCopy             // as tagged frames with a stream checksum (verify.go)
)

// copyFull copies src to dst through one buffer, writing only full buffers
// (and the tail at EOF) so that every write moves as much as it can.
func copyFull(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return total, nil
		case rerr != nil:
			return total, rerr
		}
	}
}
