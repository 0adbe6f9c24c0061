//go:build unix

package proc

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd the leader of a new process group, so that a signal
// reaches everything it started (a shell's children), as a terminal's
// Ctrl-C reaches a whole foreground pipeline, and so that a signal meant
// for this process (a terminal's Ctrl-C) does not reach the command.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup delivers sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) {
	syscall.Kill(-pid, sig)
}
