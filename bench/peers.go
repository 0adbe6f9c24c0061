//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// peerNames are the tools --peers chooses from, in the order of the report:
// the plain ones, then the encrypted ones, each group led by its ceiling.
var peerNames = []string{"gocopy", "gocopy-verify", "farpipe-plain", "mbuffer", "socat", "nc", "gocopy-tls", "farpipe-tls", "ssh"}

// peer is a tool the harness knows how to run.
type peer struct {
	tool
	needs []string // programs it needs on $PATH
	// prepare, if set, readies the peer (or says why it cannot run).
	prepare func(ctx context.Context) error
	// recv is the receiving side, listening at 127.0.0.1:port and writing
	// standard output; nil when the sender's standard output brings back
	// the byte count the far end received (ssh runs wc -c there).
	recv func(port int) []string
	// send is the sending side, reading standard input.
	send func(port int) []string
	env  []string // added to the environment of both sides
	// dialsOut marks a receiver that dials out (to a relay) rather than
	// listening on port: the harness does not wait for it to listen.
	dialsOut bool
	// run, if set, replaces the harness's trial: it moves size bytes of
	// the data set d once (croc, which sends a file).
	run func(ctx context.Context, d *dataset, size int64) (sample, error)
}

// catalog is every peer the harness knows, in the order of peerNames.
func (h *harness) catalog() []*peer {
	token := []string{"FARPIPE_TOKEN=" + h.token}
	return []*peer{
		{
			tool: tool{name: "gocopy", label: "gocopy", kind: plain, ceiling: true, usage: true},
			recv: withAddr(h.gocopy, "recv", "--listen"),
			send: withAddr(h.gocopy, "send"),
		},
		{
			tool: tool{name: "gocopy-verify", label: "gocopy --verify", kind: plain, verified: true, usage: true},
			recv: withAddr(h.gocopy, "recv", "--verify", "--listen"),
			send: withAddr(h.gocopy, "send", "--verify"),
		},
		{
			tool: tool{name: "farpipe-plain", label: "farpipe --no-encrypt", kind: plain, farpipe: true, usage: true},
			recv: withAddr(h.farpipe, "recv", "--quiet", "--no-encrypt", "--listen"),
			send: withAddr(h.farpipe, "send", "--wait", "10s", "--no-encrypt"),
			env:  token,
		},
		{
			tool:  tool{name: "mbuffer", label: "mbuffer", kind: plain, rival: true, usage: true},
			needs: []string{"mbuffer"},
			recv: func(port int) []string {
				return []string{"mbuffer", "-q", "-m", "64M", "-s", "1M", "-I", strconv.Itoa(port)}
			},
			send: withAddr("mbuffer", "-q", "-m", "64M", "-s", "1M", "-O"),
		},
		{
			tool:  tool{name: "socat", label: "socat", kind: plain, rival: true, usage: true},
			needs: []string{"socat"},
			recv: func(port int) []string {
				return []string{"socat", "-b", "1048576", "-u", fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr", port), "STDOUT"}
			},
			send: func(port int) []string {
				return []string{"socat", "-b", "1048576", "-u", "STDIN", "TCP:" + loopback(port)}
			},
		},
		{
			tool:    tool{name: "nc", label: "nc", kind: plain, usage: true},
			needs:   []string{"nc"},
			prepare: checkOpenBSDNetcat,
			recv:    func(port int) []string { return []string{"nc", "-l", "127.0.0.1", strconv.Itoa(port)} },
			send:    func(port int) []string { return []string{"nc", "-N", "127.0.0.1", strconv.Itoa(port)} },
		},
		{
			tool: tool{name: "gocopy-tls", label: "gocopy --tls", kind: encrypted, ceiling: true, usage: true},
			recv: withAddr(h.gocopy, "recv", "--tls", "--listen"),
			send: withAddr(h.gocopy, "send", "--tls"),
		},
		{
			tool: tool{name: "farpipe-tls", label: "farpipe (TLS)", kind: encrypted, farpipe: true, usage: true},
			recv: withAddr(h.farpipe, "recv", "--quiet", "--listen"),
			send: withAddr(h.farpipe, "send", "--wait", "10s"),
			env:  token,
		},
		{
			tool:    tool{name: "ssh", label: "ssh aes128-gcm", kind: encrypted, rival: true},
			needs:   []string{"ssh", "ssh-keygen", sshdPath},
			prepare: h.startSSHD,
			send:    func(int) []string { return h.sshd.command("wc -c") },
		},
	}
}

// withAddr is the command line argv followed by 127.0.0.1:port.
func withAddr(argv ...string) func(port int) []string {
	return func(port int) []string { return append(slices.Clip(argv), loopback(port)) }
}

// loopback is 127.0.0.1:port.
func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// checkOpenBSDNetcat makes sure nc is OpenBSD's, which has -N (shut the
// socket down at EOF on standard input) and exits when the peer does.
func checkOpenBSDNetcat(ctx context.Context) error {
	out, _ := exec.CommandContext(ctx, "nc", "-h").CombinedOutput()
	if !strings.Contains(string(out), "OpenBSD") {
		return fmt.Errorf("nc is not OpenBSD netcat (install netcat-openbsd, or run with --install)")
	}
	return nil
}
