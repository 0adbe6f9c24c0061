//go:build !unix

package main

import (
	"io"
	"os"
)

// newPollReader returns f: here a blocked Read of standard input cannot be
// interrupted, and connect leaves it to the end of the process.
func newPollReader(f *os.File) io.Reader { return f }
