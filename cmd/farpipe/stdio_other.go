//go:build !unix

package main

import "os"

// checkStd accepts any standard input or output where closed descriptors
// cannot be told from others.
func checkStd(*os.File, bool, string) error { return nil }
