//go:build linux

package main

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// randomChunk is the most random data the harness keeps in memory (tmpfs);
// longer transfers repeat it.
const randomChunk = 256 << 20

// dataset is a kind of data and the producer command that writes it.
type dataset struct {
	name     string
	producer []string
}

// zeros is head -c size /dev/zero.
func zeros(size int64) []string {
	return []string{"head", "-c", strconv.FormatInt(size, 10), "/dev/zero"}
}

// makeData prepares the requested data sets; random data goes to files
// in the tmpfs directory.
func (h *harness) makeData() error {
	for _, name := range h.cfg.data {
		switch name {
		case "zeros":
			h.data = append(h.data, &dataset{name: name, producer: zeros(h.cfg.size)})
		case "random":
			p, err := h.randomProducer()
			if err != nil {
				return err
			}
			h.data = append(h.data, &dataset{name: name, producer: p})
		}
	}
	return nil
}

// randomProducer writes up to 256 MiB of random bytes to a file (plus a
// shorter file for the remainder) and returns the cat command that
// repeats them to make exactly the transfer size.
func (h *harness) randomProducer() ([]string, error) {
	dir, err := os.MkdirTemp(h.cfg.tmpfs, "farpipe-bench-")
	if err != nil {
		return nil, fmt.Errorf("farpipe bench: random data: %v (choose a tmpfs with --tmpfs)", err)
	}
	h.dataDir = dir
	chunk := min(h.cfg.size, randomChunk)
	logf("writing %d MiB of random data to %s", chunk>>20, dir)
	full, tail := filepath.Join(dir, "random"), filepath.Join(dir, "random-tail")
	if err := writeRandom(full, chunk); err != nil {
		return nil, err
	}
	argv := []string{"cat"}
	for range h.cfg.size / chunk {
		argv = append(argv, full)
	}
	if rest := h.cfg.size % chunk; rest > 0 {
		if err := writeRandom(tail, rest); err != nil {
			return nil, err
		}
		argv = append(argv, tail)
	}
	return argv, nil
}

// writeRandom writes n random bytes to a new file at path.
func writeRandom(path string, n int64) error {
	var seed [32]byte
	crand.Read(seed[:])
	src := rand.NewChaCha8(seed)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("farpipe bench: random data: %v", err)
	}
	buf := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(buf)) {
		b := buf[:min(left, int64(len(buf)))]
		src.Read(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("farpipe bench: random data: %v", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("farpipe bench: random data: %v", err)
	}
	return nil
}
