//go:build windows

package unix_test

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs on Windows") }
