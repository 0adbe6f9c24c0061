//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package broker

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f, without waiting.
func lockFile(f *os.File) (func(), error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}
