//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// checkStd refuses a standard input (or output, with write) that was not
// open when farpipe started ("<&-", ">&-"). The Go runtime opens /dev/null
// read-write in place of a closed standard descriptor, so that is what such
// a descriptor looks like; a shell redirection from or to /dev/null opens it
// for reading or writing only, and passes.
func checkStd(f *os.File, write bool, verb string) error {
	if f == nil || !closedAtStart(int(f.Fd())) {
		return nil
	}
	hint := ""
	if verb == "send" || verb == "recv" {
		hint = ", or use --fifo PATH"
	}
	if write {
		return usagef("standard output is not open (>&-): give %s somewhere to write, such as > FILE, | CONSUMER or > /dev/null%s", verb, hint)
	}
	return usagef("standard input is not open (<&-): give %s something to read, such as < FILE, PRODUCER | or < /dev/null%s", verb, hint)
}

// closedAtStart reports whether fd is /dev/null opened read-write, the mark
// of a standard descriptor that was closed when the process started.
func closedAtStart(fd int) bool {
	var st, null unix.Stat_t
	if unix.Fstat(fd, &st) != nil || unix.Stat("/dev/null", &null) != nil {
		return false
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != null.Rdev {
		return false
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_ACCMODE == unix.O_RDWR
}
