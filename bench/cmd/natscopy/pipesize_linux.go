package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe enlarges f's pipe buffer to 1 MiB (or the largest size the
// system allows) when f is a pipe, as any tool in a pipeline can.
func growPipe(f *os.File) {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		for size := 1 << 20; size > 64<<10; size /= 2 {
			if _, err := unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size); err == nil {
				return
			}
		}
	})
}
