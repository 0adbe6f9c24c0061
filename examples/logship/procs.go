package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/farpipe/farpipe/examples/internal/exrun"
)

type binaries struct{ farpipe, applog string }

// build builds farpipe (unless given) and the log writer into the work
// directory.
func build(cfg config) (binaries, error) {
	bin := filepath.Join(cfg.dir, "bin")
	b := binaries{farpipe: cfg.farpipe, applog: filepath.Join(bin, "applog")}
	pkgs := [][2]string{{"./examples/logship/applog", b.applog}}
	if b.farpipe == "" {
		b.farpipe = filepath.Join(bin, "farpipe")
		pkgs = append(pkgs, [2]string{"./cmd/farpipe", b.farpipe})
	}
	return b, exrun.Build(pkgs...)
}

// network is where the hosts run: network namespaces on a bridge (as
// root, with iproute2), or this host's own network.
type network struct {
	namespaces []string // one per host, or none
	bridge     string
	relayAddr  string // the address the relay listens at, for the hosts
}

// Addresses on the bridge: link-local, they exist only there.
const bridgeAddr = "169.254.80.1"

// newNetwork makes a namespace per host, each with a veth pair whose other
// end is on a bridge in this namespace, where the relay listens. Without
// root or ip, the hosts are plain processes and the relay is on loopback.
func newNetwork(hosts int, plain bool) (*network, string) {
	if plain {
		return &network{relayAddr: "127.0.0.1"}, "plain processes (-plain)"
	}
	if os.Geteuid() != 0 {
		return &network{relayAddr: "127.0.0.1"}, "plain processes (network namespaces need root)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return &network{relayAddr: "127.0.0.1"}, "plain processes (network namespaces need ip, from iproute2)"
	}
	id := rand.N(1 << 20)
	n := &network{bridge: fmt.Sprintf("fplb%d", id), relayAddr: bridgeAddr}
	cmds := [][]string{
		{"link", "add", n.bridge, "type", "bridge"},
		{"addr", "add", bridgeAddr + "/24", "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	}
	for i := range hosts {
		ns, host, peer := fmt.Sprintf("fpl%d-h%d", id, i+1), fmt.Sprintf("fplh%d_%d", id, i+1), fmt.Sprintf("fplr%d_%d", id, i+1)
		n.namespaces = append(n.namespaces, ns)
		cmds = append(cmds,
			[]string{"netns", "add", ns},
			[]string{"link", "add", host, "type", "veth", "peer", "name", peer},
			[]string{"link", "set", host, "netns", ns},
			[]string{"link", "set", peer, "master", n.bridge},
			[]string{"link", "set", peer, "up"},
			[]string{"-n", ns, "addr", "add", fmt.Sprintf("169.254.80.%d/24", 11+i), "dev", host},
			[]string{"-n", ns, "link", "set", host, "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"},
		)
	}
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			n.remove()
			return &network{relayAddr: "127.0.0.1"}, fmt.Sprintf("plain processes (ip %s: %v: %s)",
				strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return n, fmt.Sprintf("network namespaces %s, each with a veth pair to bridge %s (%s), where the relay listens",
		strings.Join(n.namespaces, ", "), n.bridge, bridgeAddr)
}

// command returns the command line of host i's process.
func (n *network) command(i int, name string, args ...string) *exec.Cmd {
	if len(n.namespaces) == 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", n.namespaces[i], name}, args...)...)
}

// remove deletes the namespaces and the bridge (their veth pairs go with
// them). Processes in them must have ended.
func (n *network) remove() {
	for _, ns := range n.namespaces {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	if n.bridge != "" {
		exec.Command("ip", "link", "del", n.bridge).Run()
	}
}
