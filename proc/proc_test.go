package proc_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/proc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair returns the two ends of a farpipe over loopback.
func pair(t *testing.T) (client, server *farpipe.Conn) {
	t.Helper()
	ctx := context.Background()
	ln, err := farpipe.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *farpipe.Conn, 1)
	go func() { c, _ := ln.Accept(ctx); accepted <- c }()
	client, err = farpipe.Dial(ctx, ln.URL())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() {
		client.Abort("test over")
		server.Abort("test over")
		ln.Close()
		<-client.Done()
		<-server.Done()
	})
	return client, server
}

func streams(c *farpipe.Conn) proc.Streams {
	return proc.Streams{In: c.Channel(0), Err: c.Channel(1), Ctl: c.Channel(2)}
}

// TestOnlyTheFixedCommandRuns: whatever the client sends on the control
// channel (commands, a signal that is not forwarded, garbage, an overlong
// line), only the server's command runs, and only SIGINT, SIGTERM and
// SIGHUP reach it.
func TestOnlyTheFixedCommandRuns(t *testing.T) {
	client, server := pair(t)
	served := make(chan proc.Status, 1)
	go func() {
		st, err := proc.Serve(context.Background(),
			[]string{"sh", "-c", "echo fixed; cat; sleep 0.3; echo still-alive"}, streams(server))
		if err != nil {
			t.Error(err)
		}
		served <- st
	}()
	ctl := client.Channel(2)
	for _, line := range []string{
		"exec rm -rf /\n", "run /bin/sh\n", "signal 9\n", "signal 19\n", "argv ls\n",
		strings.Repeat("x", 1000) + "\n", "\x00\xff garbage\n", "signal -1\n", "signal 99999\n",
	} {
		ctl.Write([]byte(line))
	}
	in := client.Channel(0)
	in.Write([]byte("input\n"))
	in.CloseWrite()
	var out bytes.Buffer
	in.WriteTo(&out)
	st := <-served
	if got := out.String(); got != "fixed\ninput\nstill-alive\n" || st.ExitCode() != 0 {
		t.Fatalf("output %q, status %v; want the fixed command's output, untouched", got, st)
	}
}

// TestAttach runs both ends in this process: input, output, standard
// error and exit status.
func TestAttach(t *testing.T) {
	client, server := pair(t)
	go proc.Serve(context.Background(), []string{"sh", "-c", "tr a-z A-Z; echo oops >&2; exit 5"}, streams(server))
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := proc.Attach(ctx, streams(client), strings.NewReader("hello\n"), &stdout, &stderr, nil)
	if err != nil || st.ExitCode() != 5 || stdout.String() != "HELLO\n" || stderr.String() != "oops\n" {
		t.Fatalf("status %v, err %v, stdout %q, stderr %q", st, err, stdout.String(), stderr.String())
	}
}
