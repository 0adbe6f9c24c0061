package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A star is three network namespaces: two hosts, A and B, each joined by a
// veth pair (a cable) only to a third, R, with no route between A and B,
// as two hosts behind NATs that can both reach a relay but not each other.
type star struct {
	a, b, r string // namespace names
	rFromA  string // R's address on A's cable
	rFromB  string // R's address on B's cable
	addrB   string // B's address (on its cable to R)
}

// threeHosts builds a star of namespaces, removed when the test ends. It
// skips the test unless it runs as root with iproute2 installed, as
// twoHosts does.
func threeHosts(t *testing.T) star {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespaces need root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: the ip command (iproute2) is not installed")
	}
	id := rand.N(1 << 20)
	s := star{
		a: fmt.Sprintf("fpsA%d", id), b: fmt.Sprintf("fpsB%d", id), r: fmt.Sprintf("fpsR%d", id),
		// Link-local addresses: each exists only on its cable. A and B
		// are on different subnets and have no route beyond their cable.
		rFromA: "169.254.81.2", rFromB: "169.254.82.2", addrB: "169.254.82.1",
	}
	va, ra := fmt.Sprintf("fpsa%d", id), fmt.Sprintf("fpsra%d", id)
	vb, rb := fmt.Sprintf("fpsb%d", id), fmt.Sprintf("fpsrb%d", id)
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		for _, ns := range []string{s.a, s.b, s.r} {
			ip("netns", "del", ns)
		}
	})
	for _, args := range [][]string{
		{"netns", "add", s.a}, {"netns", "add", s.b}, {"netns", "add", s.r},
		{"link", "add", va, "type", "veth", "peer", "name", ra},
		{"link", "add", vb, "type", "veth", "peer", "name", rb},
		{"link", "set", va, "netns", s.a}, {"link", "set", ra, "netns", s.r},
		{"link", "set", vb, "netns", s.b}, {"link", "set", rb, "netns", s.r},
		{"-n", s.a, "addr", "add", "169.254.81.1/24", "dev", va},
		{"-n", s.r, "addr", "add", s.rFromA + "/24", "dev", ra},
		{"-n", s.b, "addr", "add", s.addrB + "/24", "dev", vb},
		{"-n", s.r, "addr", "add", s.rFromB + "/24", "dev", rb},
		{"-n", s.a, "link", "set", va, "up"}, {"-n", s.r, "link", "set", ra, "up"},
		{"-n", s.b, "link", "set", vb, "up"}, {"-n", s.r, "link", "set", rb, "up"},
		{"-n", s.a, "link", "set", "lo", "up"}, {"-n", s.b, "link", "set", "lo", "up"},
		{"-n", s.r, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Skipf("skipping: cannot build the three-host network: %v", err)
		}
	}
	return s
}

// TestNetnsRelayNAT: A and B cannot reach each other, only R, which runs
// the relay. A farpipe listening in B is unreachable from A directly; the
// same pipe through the relay in R works: 16 MiB intact, both exit 0.
func TestNetnsRelayNAT(t *testing.T) {
	t.Parallel()
	s := threeHosts(t)

	// B is unreachable from A: a TCP pipe from A to a recv listening in B
	// fails.
	direct := s.addrB + ":7000"
	recvB := runCmd(t, inNetns(t, s.b, "recv", "-v", "--listen", direct))
	if _, err := recvB.stderr.waitLine("listening on", 30*time.Second, recvB.exited); err != nil {
		failDumping(t, fmt.Sprintf("recv in B does not listen: %v", err), recvB)
	}
	res := start(t, inNetns(t, s.a, "send", direct), strings.NewReader("x"))()
	if res.code == 0 {
		t.Fatalf("send from A reached B directly (%s): the namespaces are not isolated", res.stderr)
	}
	t.Logf("A to B directly: exit %d, %s", res.code, strings.TrimSpace(res.stderr))
	recvB.cmd.Process.Kill()
	<-recvB.exited

	for _, kind := range relayKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			r := newRelayAt(t, kind, s.r, "0.0.0.0", 4222)
			r.start()
			data := randomData(16 << 20)
			recvCmd := inNetns(t, s.b, "recv", "--listen", fmt.Sprintf("nats://%s:4222/nat", s.rFromB))
			recv := background(t, recvCmd, nil)
			sendCmd := inNetns(t, s.a, "send", "--wait", "10s", fmt.Sprintf("nats://%s:4222/nat", s.rFromA))
			send := background(t, sendCmd, bytes.NewReader(data))
			sr, rr := bothWithin(t, 60*time.Second, sendCmd, send, recvCmd, recv)
			if sr.code != 0 || rr.code != 0 {
				t.Fatalf("send exit %d, recv exit %d\nsend: %s\nrecv: %s\nrelay: %s", sr.code, rr.code, sr.stderr, rr.stderr, r.out.String())
			}
			if len(rr.stdout) != len(data) || sha256.Sum256(rr.stdout) != sha256.Sum256(data) {
				t.Fatalf("received %d bytes that differ from the %d sent", len(rr.stdout), len(data))
			}
		})
	}
}
