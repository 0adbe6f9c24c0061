//go:build unix

package proc

import (
	"os/exec"
	"syscall"
)

// OwnGroup makes cmd the leader of a new process group, so that a signal
// reaches everything it started (a shell's children), as a terminal's
// Ctrl-C reaches a whole foreground pipeline, and so that a signal meant
// for this process (a terminal's Ctrl-C) does not reach the command.
func OwnGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// SignalGroup delivers sig to the process group led by pid (a command
// started after OwnGroup).
func SignalGroup(pid int, sig syscall.Signal) {
	syscall.Kill(-pid, sig)
}
