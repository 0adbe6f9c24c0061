//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// aptPackages are the Debian packages of the peers (and of GNU time, which
// measures memory), each with the program that shows it is installed.
var aptPackages = []struct{ prog, pkg string }{
	{"mbuffer", "mbuffer"},
	{"socat", "socat"},
	{"nc", "netcat-openbsd"},
	{sshdPath, "openssh-server"},
	{timeBin, "time"},
	{"parallel", "parallel"}, // the map part
}

// installPeers apt-get installs the packages of the peers that are missing.
func installPeers(ctx context.Context) error {
	var pkgs []string
	for _, a := range aptPackages {
		if missing([]string{a.prog}) != "" || (a.prog == "nc" && checkOpenBSDNetcat(ctx) != nil) {
			pkgs = append(pkgs, a.pkg)
		}
	}
	if len(pkgs) == 0 {
		logf("--install: every peer is installed already")
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("farpipe bench: --install needs root, or run: sudo apt-get install -y " + strings.Join(pkgs, " "))
	}
	for _, args := range [][]string{
		{"update", "-qq"},
		append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...),
	} {
		logf("apt-get %s", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("farpipe bench: apt-get %s: %v", args[0], err)
		}
	}
	return nil
}
