//go:build !unix

package proc

import (
	"os"
	"os/exec"
	"syscall"
)

func ownGroup(*exec.Cmd) {}

// signalGroup delivers sig to the process pid alone: there are no process
// groups here.
func signalGroup(pid int, sig syscall.Signal) {
	if p, err := os.FindProcess(pid); err == nil {
		if sig == syscall.SIGKILL {
			p.Kill()
		} else {
			p.Signal(sig)
		}
	}
}
