//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// makeFifo creates a named pipe at path for --fifo and returns a function
// that removes it. A named pipe already at path (made with mkfifo, so that
// the program at the other end can be started at once) is used as it is and
// left in place; anything else there is never replaced.
func makeFifo(path string) (remove func(), err error) {
	if err := unix.Mkfifo(path, 0o600); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, usagef("--fifo %s: %v", path, err)
		}
		if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeNamedPipe {
			return func() {}, nil
		}
		return nil, usagef("--fifo %s: a file that is not a named pipe already exists there: remove it or choose another path", path)
	}
	return func() { os.Remove(path) }, nil
}

// openFifo opens the named pipe for reading or writing; it waits until a
// process opens the other end.
func openFifo(path string, write bool) (*os.File, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_WRONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("farpipe: opening --fifo %s: %v", path, err)
	}
	return f, nil
}
