//go:build !linux

package main

import (
	"context"
	"io"
	"os"
)

// spliceFile is not available here: the caller copies.
func spliceFile(w, f *os.File, off, n int64) (bool, error) { return false, nil }

// interruptibleStdin returns in as it is.
func interruptibleStdin(_ context.Context, in *os.File) (io.Reader, func()) {
	return in, func() {}
}
