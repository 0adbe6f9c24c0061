// Command ipc measures farpipe between two processes on this machine
// through the Go API, over each transport in the same run: a generator
// writes a farpipe.Conn as fast as it can, a reader in the other process
// discards, no standard input or output in the way.
//
//	go run ./bench/ipc [-size 4GiB] [-runs 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/transport"
)

type kind struct {
	name string
	addr func(dir string, port int) string
	opts []farpipe.Option
}

var kinds = []kind{
	{"tcp (TLS, the default)", func(_ string, p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }, nil},
	{"tcp --no-encrypt", func(_ string, p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }, []farpipe.Option{farpipe.WithNoEncrypt()}},
	{"unix", func(d string, _ int) string { return "unix://" + filepath.Join(d, "s") }, nil},
	{"shm", func(d string, p int) string { return fmt.Sprintf("shm://farpipe-bench-%d-%d", os.Getpid(), p) }, nil},
}

const token = "farpipe-ipc-benchmark-token-0123456789"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-child" { // re-executed as one end
		if err := child(os.Args[2], os.Args[3], os.Args[4]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	sizeFlag := flag.String("size", "4GiB", "bytes per transfer")
	runs := flag.Int("runs", 3, "transfers per transport, interleaved")
	flag.Parse()
	size, err := humanize.ParseBytes(*sizeFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "farpipe bench: bad -size:", err)
		os.Exit(2)
	}
	results := make([][]float64, len(kinds))
	port := 17000 + os.Getpid()%1000
	for r := range *runs {
		for i, k := range kinds {
			if _, ok := transport.Lookup(strings.SplitN(k.addr("", 0), "://", 2)[0]); !ok && strings.Contains(k.addr("", 0), "://") {
				continue // a transport this build does not have
			}
			port++
			gbps, err := once(k, i, port, size)
			if err != nil {
				fmt.Fprintf(os.Stderr, "farpipe bench: %s run %d: %v\n", k.name, r+1, err)
				continue
			}
			results[i] = append(results[i], gbps)
		}
	}
	fmt.Printf("farpipe.Conn between two processes, %s per transfer, %d runs interleaved\n", humanize.IBytes(size), *runs)
	fmt.Printf("%-24s %8s %14s\n", "transport", "GB/s", "min–max")
	med := make([]float64, len(kinds))
	for i, k := range kinds {
		if len(results[i]) == 0 {
			fmt.Printf("%-24s %8s\n", k.name, "-")
			continue
		}
		slices.Sort(results[i])
		med[i] = results[i][len(results[i])/2]
		fmt.Printf("%-24s %8.2f %6.2f–%-6.2f\n", k.name, med[i], results[i][0], results[i][len(results[i])-1])
	}
	ratio := func(a, b int) string {
		if med[a] == 0 || med[b] == 0 {
			return "not measured"
		}
		return fmt.Sprintf("%.2f×", med[a]/med[b])
	}
	fmt.Printf("shm / unix: %s (goal ≥ 2×); unix / tcp --no-encrypt: %s, unix / tcp (TLS): %s (goal ≥ 1.3×)\n",
		ratio(3, 2), ratio(2, 1), ratio(2, 0))
}

// once runs one transfer of k and returns GB/s as the reader saw it.
func once(k kind, i, port int, size uint64) (float64, error) {
	dir, err := os.MkdirTemp("", "fpipc")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	addr := k.addr(dir, port)
	self, _ := os.Executable()
	reader := exec.Command(self, "-child", "read", strconv.Itoa(i), addr)
	reader.Stderr = os.Stderr
	out, _ := reader.StdoutPipe()
	if err := reader.Start(); err != nil {
		return 0, err
	}
	writer := exec.Command(self, "-child", "write", strconv.Itoa(i), addr+"|"+strconv.FormatUint(size, 10))
	writer.Stderr = os.Stderr
	if err := writer.Start(); err != nil {
		reader.Process.Kill()
		return 0, err
	}
	report, _ := io.ReadAll(out)
	werr, rerr := writer.Wait(), reader.Wait()
	if werr != nil || rerr != nil {
		return 0, fmt.Errorf("writer: %v, reader: %v", werr, rerr)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(report)), 64)
}

// child is one end: "read" listens and discards, printing GB/s; "write"
// dials (retrying until the listener is up) and writes.
func child(role, idx, arg string) error {
	i, _ := strconv.Atoi(idx)
	opts := append([]farpipe.Option{farpipe.WithToken(token)}, kinds[i].opts...)
	ctx := context.Background()
	if role == "read" {
		ln, err := farpipe.Listen(ctx, arg, opts...)
		if err != nil {
			return err
		}
		defer ln.Close()
		c, err := ln.Accept(ctx)
		if err != nil {
			return err
		}
		start := time.Now()
		n, err := io.Copy(io.Discard, c)
		if err != nil {
			return err
		}
		fmt.Println(float64(n) / time.Since(start).Seconds() / 1e9)
		c.Close()
		<-c.Done()
		return nil
	}
	addr, sz, _ := strings.Cut(arg, "|")
	size, _ := strconv.ParseUint(sz, 10, 64)
	var c *farpipe.Conn
	var err error
	for range 200 {
		if c, err = farpipe.Dial(ctx, addr, opts...); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, uint64(len(buf)))
		if _, err := c.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	c.CloseWrite()
	if err := c.Drain(ctx); err != nil {
		return err
	}
	c.Close()
	<-c.Done()
	return nil
}
