//go:build !linux

package testnginx

import "os/exec"

// dieWithParent does nothing: nginx is tested on Linux only.
func dieWithParent(*exec.Cmd) {}
