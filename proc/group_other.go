//go:build !unix

package proc

import (
	"os"
	"os/exec"
	"syscall"
)

// OwnGroup does nothing: there are no process groups here.
func OwnGroup(*exec.Cmd) {}

// SignalGroup delivers sig to the process pid alone: there are no process
// groups here.
func SignalGroup(pid int, sig syscall.Signal) {
	if p, err := os.FindProcess(pid); err == nil {
		if sig == syscall.SIGKILL {
			p.Kill()
		} else {
			p.Signal(sig)
		}
	}
}
