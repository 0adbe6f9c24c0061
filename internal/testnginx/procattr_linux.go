package testnginx

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill nginx if the test binary dies first
// (a panic, a -timeout), so no proxy outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
