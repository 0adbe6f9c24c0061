//go:build !linux

package main

import "os"

// rawPipe is Linux's only: elsewhere f is used as it is.
func rawPipe(f *os.File, write bool) *rawPipeFile { return nil }

type rawPipeFile struct{ *os.File }
