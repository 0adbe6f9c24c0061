package flow_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/farpipe/farpipe/flow"
)

// Cut a stream into chunks of whole lines.
func ExampleChunker() {
	in := strings.NewReader("alpha\nbeta\ngamma\ndelta\n")
	ck, err := flow.NewChunker(in, flow.Config{Block: 12})
	if err != nil {
		panic(err)
	}
	for {
		c, err := ck.Next(context.Background())
		if err == io.EOF {
			break
		}
		fmt.Printf("chunk %d at %d: %q\n", c.Seq, c.Offset, c.Data)
		c.Release()
	}
	// Output:
	// chunk 0 at 0: "alpha\nbeta\n"
	// chunk 1 at 11: "gamma\ndelta\n"
}

// A CSV header repeated in every chunk of two records.
func ExampleConfig_header() {
	in := strings.NewReader("name,n\na,1\nb,2\nc,3\n")
	ck, _ := flow.NewChunker(in, flow.Config{Header: 1, Records: 2})
	for {
		c, err := ck.Next(context.Background())
		if err == io.EOF {
			break
		}
		fmt.Printf("%q + %q\n", c.Header, c.Data)
	}
	// Output:
	// "name,n\n" + "a,1\nb,2\n"
	// "name,n\n" + "c,3\n"
}

// Run a job on every chunk in parallel; the outputs come in input order.
func ExampleMap() {
	in := strings.NewReader("one\ntwo\nthree\nfour\nfive\n")
	ck, _ := flow.NewChunker(in, flow.Config{Records: 2})
	err := flow.Map(context.Background(), ck, os.Stdout, flow.MapConfig{Jobs: 3},
		func(ctx context.Context, c *flow.Chunk, out *flow.Output) error {
			_, err := fmt.Fprintf(out, "chunk %d: %s\n", c.Seq, bytes.ReplaceAll(bytes.TrimSpace(c.Data), []byte("\n"), []byte(" ")))
			return err
		})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// chunk 0: one two
	// chunk 1: three four
	// chunk 2: five
}

// Read NUL-separated records one at a time.
func ExampleSplitFunc() {
	sc := bufio.NewScanner(strings.NewReader("a b\x00c\x00d"))
	sc.Split(flow.SplitFunc(flow.Null()))
	for sc.Scan() {
		fmt.Printf("%q\n", sc.Text())
	}
	// Output:
	// "a b\x00"
	// "c\x00"
	// "d"
}
