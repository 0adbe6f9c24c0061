// Package testproc helps tests check on the processes they start.
package testproc

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// Gone waits up to d until process pid no longer runs and reports whether
// it is gone. A zombie counts as gone: it runs nothing more, and its new
// parent reaps it in a moment. It reads /proc, so where there is none every
// process looks gone.
func Gone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		// The state follows the command's name, which is in parentheses
		// and may hold anything, the last ')' included.
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
