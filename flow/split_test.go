package flow

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// splitters are the splitters every round-trip test runs over.
func splitters() map[string]Splitter {
	return map[string]Splitter{
		"lines":     Lines(),
		"null":      Null(),
		"recend":    RecEnd("END\n"),
		"recstart":  RecStart(">"),
		"recstart2": RecStart("<rec>"),
		"both":      Separator{End: "\n", Start: ">"},
		"bytes":     Bytes{},
	}
}

// sampleInput makes n bytes of records of random lengths that every
// splitter above finds boundaries in.
func sampleInput(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	seps := []string{"\n", "\x00", "END\n", "\n>", "<rec>", "x"}
	for b.Len() < n {
		l := r.IntN(200)
		if r.IntN(50) == 0 {
			l = r.IntN(5000)
		}
		for i := 0; i < l; i++ {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
		b.WriteString(seps[r.IntN(len(seps))])
	}
	return b.Bytes()[:n]
}

func TestSeparatorBoundaries(t *testing.T) {
	tests := []struct {
		name  string
		s     Separator
		in    string
		limit int
		last  int
		from  int
		next  int
	}{
		{"line last", Lines(), "ab\ncd\nef", 8, 6, 0, 3},
		{"line limit", Lines(), "ab\ncd\nef", 5, 3, 3, 6},
		{"line none", Lines(), "abcdef", 6, -1, 0, -1},
		{"line at limit", Lines(), "ab\ncd\n", 6, 6, 5, 6},
		{"recend straddle", RecEnd("XY"), "aXYbX", 5, 3, 2, 3},
		{"recend from inside", RecEnd("XY"), "aXYb", 4, 3, 2, 3},
		{"recstart not at 0", RecStart(">"), ">a>b", 4, 2, 0, 2},
		{"recstart only at 0", RecStart(">"), ">abc", 4, -1, 0, -1},
		{"recstart needs lookahead", RecStart("<r>"), "ab<r", 2, -1, 0, -1},
		{"recstart at limit", RecStart("<r>"), "ab<r>", 2, 2, 1, 2},
		{"both", Separator{End: "\n", Start: ">"}, ">a\nb\n>c", 7, 5, 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Last([]byte(tt.in), tt.limit); got != tt.last {
				t.Errorf("Last(%q, %d) = %d, want %d", tt.in, tt.limit, got, tt.last)
			}
			if got := tt.s.Next([]byte(tt.in), tt.from); got != tt.next {
				t.Errorf("Next(%q, %d) = %d, want %d", tt.in, tt.from, got, tt.next)
			}
		})
	}
}

func TestSplitFuncRoundTrip(t *testing.T) {
	in := sampleInput(rand.New(rand.NewPCG(1, 2)), 50000)
	for name, s := range splitters() {
		t.Run(name, func(t *testing.T) {
			sc := bufio.NewScanner(bytes.NewReader(in))
			sc.Buffer(make([]byte, 64), len(in)+1)
			sc.Split(SplitFunc(s))
			var out bytes.Buffer
			n := 0
			for sc.Scan() {
				out.Write(sc.Bytes())
				n++
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("records concatenated differ from the input")
			}
			if n < 2 {
				t.Fatalf("only %d records", n)
			}
		})
	}
}

// collect reads every chunk of src and checks the chunks' invariants.
func collect(t testing.TB, src Source) []*Chunk {
	t.Helper()
	var out []*Chunk
	for {
		c, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Seq != int64(len(out)) {
			t.Fatalf("chunk %d has number %d", len(out), c.Seq)
		}
		out = append(out, c)
	}
}

// joined is the header followed by every chunk's records.
func joined(t testing.TB, chunks []*Chunk) []byte {
	var b bytes.Buffer
	for i, c := range chunks {
		if i == 0 {
			b.Write(c.Header)
		}
		body, err := io.ReadAll(c.Reader())
		if err != nil {
			t.Fatal(err)
		}
		b.Write(body[len(c.Header):])
	}
	return b.Bytes()
}

func TestChunkerRoundTrip(t *testing.T) {
	in := sampleInput(rand.New(rand.NewPCG(3, 4)), 300000)
	for name, s := range splitters() {
		for _, cfg := range []Config{
			{Block: 1}, {Block: 7}, {Block: 1000}, {Block: 65536}, {},
			{Block: 100, Records: 3}, {Block: 1, Records: 1}, {Block: 5000, Header: 2}, {Block: 1, Header: 1, Records: 2},
		} {
			cfg.Split = s
			t.Run(name, func(t *testing.T) {
				ck, err := NewChunker(iotestHalf(bytes.NewReader(in)), cfg)
				if err != nil {
					t.Fatal(err)
				}
				chunks := collect(t, ck)
				if got := joined(t, chunks); !bytes.Equal(got, in) {
					t.Fatalf("%+v: chunks joined differ from the input (%d vs %d bytes)", cfg, len(got), len(in))
				}
				checkCuts(t, cfg, in, chunks)
				fc, err := NewFileChunker(bytes.NewReader(in), 0, int64(len(in)), cfg)
				if err != nil {
					t.Fatal(err)
				}
				fchunks := collect(t, fc)
				if len(fchunks) != len(chunks) {
					t.Fatalf("%+v: FileChunker made %d chunks, Chunker %d", cfg, len(fchunks), len(chunks))
				}
				for i := range chunks {
					if fchunks[i].Offset != chunks[i].Offset || fchunks[i].Size != chunks[i].Size || !bytes.Equal(fchunks[i].Header, chunks[i].Header) {
						t.Fatalf("%+v: chunk %d: FileChunker [%d+%d], Chunker [%d+%d]", cfg, i,
							fchunks[i].Offset, fchunks[i].Size, chunks[i].Offset, chunks[i].Size)
					}
				}
			})
		}
	}
}

// checkCuts checks that chunks end on boundaries at the documented places.
func checkCuts(t *testing.T, cfg Config, in []byte, chunks []*Chunk) {
	t.Helper()
	block := cfg.Block
	if block == 0 {
		block = DefaultBlock
	}
	for i, c := range chunks {
		if i == len(chunks)-1 {
			break
		}
		rest := in[c.Offset:]
		switch {
		case cfg.Records > 0:
			pos := 0
			for r := 0; r < cfg.Records; r++ {
				pos = cfg.Split.Next(rest, pos)
			}
			if int64(pos) != c.Size {
				t.Fatalf("chunk %d: %d bytes, %d records end at %d", i, c.Size, cfg.Records, pos)
			}
		case int(c.Size) <= block:
			if want := cfg.Split.Last(rest, block); int64(want) != c.Size {
				t.Fatalf("chunk %d: %d bytes, the last boundary within the block is at %d", i, c.Size, want)
			}
		default:
			if cfg.Split.Last(rest, block) > 0 || int64(cfg.Split.Next(rest, block)) != c.Size {
				t.Fatalf("chunk %d: %d bytes, longer than the block without need", i, c.Size)
			}
		}
	}
}

// iotestHalf reads in pieces of varying length, as pipes do.
func iotestHalf(r io.Reader) io.Reader { return &oddReader{r: r} }

type oddReader struct {
	r io.Reader
	n int
}

func (o *oddReader) Read(p []byte) (int, error) {
	o.n = o.n%4093 + 1 + o.n/3%977
	if len(p) > o.n {
		p = p[:o.n]
	}
	return o.r.Read(p)
}

func TestChunkerHeaderOnly(t *testing.T) {
	for _, in := range []string{"h1\nh2\n", "h1\nh2"} {
		ck, err := NewChunker(strings.NewReader(in), Config{Header: 2})
		if err != nil {
			t.Fatal(err)
		}
		chunks := collect(t, ck)
		if len(chunks) != 1 || string(chunks[0].Header) != in || chunks[0].Size != 0 {
			t.Fatalf("%q: %d chunks", in, len(chunks))
		}
	}
	ck, _ := NewChunker(strings.NewReader(""), Config{Header: 1})
	if chunks := collect(t, ck); len(chunks) != 0 {
		t.Fatalf("empty input: %d chunks", len(chunks))
	}
}

func TestChunkerLimits(t *testing.T) {
	ck, err := NewChunker(strings.NewReader(strings.Repeat("x", 100000)+"\n"), Config{Block: 10, MaxChunk: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ck.Next(context.Background()); !errors.Is(err, ErrChunkTooBig) {
		t.Fatalf("a record over MaxChunk: %v, want ErrChunkTooBig", err)
	}
	for _, cfg := range []Config{{Split: Separator{}}, {Block: -1}, {Block: 10, MaxChunk: 5}} {
		if _, err := NewChunker(strings.NewReader(""), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", cfg, err)
		}
	}
}

type failingReader struct{ n int }

var errBroken = errors.New("broken")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errBroken
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	for i := range p {
		p[i] = '\n'
	}
	f.n -= len(p)
	return len(p), nil
}

func TestChunkerReadError(t *testing.T) {
	ck, _ := NewChunker(&failingReader{n: 100}, Config{Block: 64})
	var got int64
	for {
		c, err := ck.Next(context.Background())
		if err != nil {
			if !errors.Is(err, errBroken) {
				t.Fatalf("%v, want the read error", err)
			}
			break
		}
		got += c.Size
	}
	if got != 100 {
		t.Fatalf("%d bytes before the error, want 100", got)
	}
}
