//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "farpipe bench: runs on Linux only (it reads /proc and grows pipes with F_SETPIPE_SZ)")
	os.Exit(1)
}
