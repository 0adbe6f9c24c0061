//go:build !unix

package main

import (
	"errors"
	"os"
)

var errNoFifo = errors.New("farpipe: --fifo needs a Unix system")

func makeFifo(string) (func(), error) { return nil, errNoFifo }

func openFifo(string, bool) (*os.File, error) { return nil, errNoFifo }
