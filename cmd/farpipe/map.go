package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/dustin/go-humanize"
	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/flow"
	"github.com/spf13/cobra"
)

// mapFlags are the flags of farpipe map.
type mapFlags struct {
	jobs      int
	block     string
	null      bool
	recEnd    string
	recStart  string
	records   int
	bytes     bool
	header    int
	unordered bool
	retries   int
	keepGoing bool
}

func newMapCmd() *cobra.Command {
	var f mapFlags
	cmd := &cobra.Command{
		Use:   "map [flags] -- CMD [ARGS...]",
		Short: "Run CMD on chunks of standard input in parallel, outputs in order",
		Long: `Cut standard input into chunks of whole records (lines by default) of about
--block bytes, run CMD once per chunk with the chunk on its standard input,
up to --jobs at a time, and write the outputs to standard output in input
order (--unordered: as they finish). Each output is written whole, never
mixed with another's. CMD gets FARPIPE_CHUNK (the chunk's number, from 0) and
FARPIPE_OFFSET (its byte offset in the input) in its environment; its
standard error passes through line by line.

A record longer than the block makes a longer chunk: records are never split.
When standard input is a regular file, CMD gets its chunk straight from the
file (splice), without a copy through farpipe. Memory stays about
jobs x (block + 1 MiB) whatever the input's size; nothing goes to disk.

A CMD that exits non-zero is run again up to --retries times; then map stops
the other commands and exits 9 naming the chunk (number, byte range, first
record), CMD's status and its last lines of standard error. With
--keep-going every other chunk still runs and map exits 9 at the end with the
count. SIGINT and SIGTERM are passed on to the commands; map exits 130/143.

--recend and --recstart take \n, \t, \r, \0, \\ and \xHH escapes.

` + exitCodesHelp,
		Example: `  farpipe map -- grep -F ERROR < big.log > errors.log
  farpipe map --header 1 -- awk -F, '{print $2}' < data.csv
  find . -print0 | farpipe map -0 --records 100 -- xargs -0 sha256sum`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 || len(args) == 0 {
				return usagef("give the command after --, for example: farpipe map -j 4 -- grep ERROR")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMap(cmd.Context(), &f, args)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.jobs, "jobs", "j", runtime.NumCPU(), "commands running at once")
	fl.StringVar(&f.block, "block", "", "chunk size: chunks end at the last record boundary within it (default 1MiB; for a regular file, 1/8 of its share per job, from 1MiB to 64MiB)")
	fl.BoolVarP(&f.null, "null", "0", false, "records end with NUL bytes instead of newlines")
	fl.StringVar(&f.recEnd, "recend", "", "records end with STR (default newline)")
	fl.StringVar(&f.recStart, "recstart", "", "records start with STR")
	fl.IntVar(&f.records, "records", 0, "exactly N records per chunk instead of --block bytes")
	fl.BoolVar(&f.bytes, "bytes", false, "no records: chunks of exactly --block bytes (binary data)")
	fl.IntVar(&f.header, "header", 0, "the first N records (lines) are the header, repeated at the start of every chunk")
	fl.BoolVar(&f.unordered, "unordered", false, "write outputs as chunks finish, not in input order")
	fl.IntVar(&f.retries, "retries", 0, "run a failed command again up to N times")
	fl.BoolVar(&f.keepGoing, "keep-going", false, "when a chunk fails, run the others anyway and exit 9 at the end")
	addVia(cmd, &f)
	return cmd
}

// config turns the flags into the chunking and map configurations.
func (f *mapFlags) config() (flow.Config, flow.MapConfig, error) {
	var cfg flow.Config
	var mc flow.MapConfig
	block, err := uint64(flow.DefaultBlock), error(nil)
	if f.block != "" {
		block, err = parseBlock(f.block)
	}
	if err != nil || block == 0 || block > 1<<30 {
		return cfg, mc, usagef("--block %q: give a size from 1 byte to 1GiB, like 1MiB", f.block)
	}
	end, err := unescape(f.recEnd)
	if err != nil {
		return cfg, mc, usagef("--recend %q: %v", f.recEnd, err)
	}
	start, err := unescape(f.recStart)
	if err != nil {
		return cfg, mc, usagef("--recstart %q: %v", f.recStart, err)
	}
	n := 0
	for _, set := range []bool{f.null, f.bytes, end != "" || start != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return cfg, mc, usagef("choose one of -0, --bytes and --recend/--recstart")
	}
	switch {
	case f.null:
		cfg.Split = flow.Null()
	case f.bytes:
		cfg.Split = flow.Bytes{}
		if f.header > 0 {
			return cfg, mc, usagef("--header needs records: it cannot go with --bytes")
		}
	case end != "" || start != "":
		cfg.Split = flow.Separator{End: end, Start: start}
	default:
		cfg.Split = flow.Lines()
	}
	if f.jobs < 1 || f.records < 0 || f.header < 0 || f.retries < 0 {
		return cfg, mc, usagef("--jobs must be at least 1, and --records, --header and --retries not negative")
	}
	cfg.Block, cfg.Records, cfg.Header = int(block), f.records, f.header
	mc = flow.MapConfig{Jobs: f.jobs, Unordered: f.unordered, KeepGoing: f.keepGoing, Hold: f.retries > 0}
	return cfg, mc, nil
}

// parseBlock parses a --block size. A bare K, M, G or T multiplies by
// powers of 1024, as in GNU parallel, split and head ("1M" is 1 MiB);
// "KiB"... say the same, "KB", "MB"... are powers of 1000.
func parseBlock(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	if n := len(t); n > 1 && strings.ContainsRune("kKmMgGtT", rune(t[n-1])) && t[n-2] >= '0' && t[n-2] <= '9' {
		t += "iB"
	}
	return humanize.ParseBytes(t)
}

// unescape interprets the escapes of --recend and --recstart.
func unescape(s string) (string, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		if i++; i == len(s) {
			return "", errors.New("ends with a lone backslash")
		}
		switch s[i] {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case '0':
			b = append(b, 0)
		case '\\':
			b = append(b, '\\')
		case 'x':
			if i+2 >= len(s) {
				return "", errors.New(`\x needs two hex digits`)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", errors.New(`\x needs two hex digits`)
			}
			b = append(b, byte(v))
			i += 2
		default:
			return "", fmt.Errorf(`unknown escape \%c: use \n, \t, \r, \0, \\ or \xHH`, s[i])
		}
	}
	return string(b), nil
}

func runMap(ctx context.Context, f *mapFlags, argv []string) error {
	cfg, mc, err := f.config()
	if err != nil {
		return err
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return usagef("map: cannot run %s: %v", argv[0], err)
	}

	src, done, err := mapSource(ctx, os.Stdin, cfg, f.block == "", mc.Jobs)
	if err != nil {
		return err
	}
	defer done()
	growPipe(os.Stdout)
	r := newMapRunner(path, argv, f.retries, f.keepGoing)
	err = flow.Map(ctx, src, os.Stdout, mc, obs.job(r.job))
	return mapResult(err)
}

// mapResult turns Map's error into the command's.
func mapResult(err error) error {
	var (
		ce *flow.ChunkError
		fe *flow.FailedError
		se *signalError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.As(err, &fe):
		return kindf(errMapFailed, "farpipe: map: %d of %d chunks failed; the first was chunk %d (%s)",
			fe.Failed, fe.Total, fe.First.Seq, byteRange(fe.First.Offset, fe.First.Size))
	case errors.As(err, &ce):
		return kindf(errMapFailed, "farpipe: map: chunk %d (%s) failed: %v; the other commands were stopped",
			ce.Seq, byteRange(ce.Offset, ce.Size), ce.Err)
	case errors.Is(err, syscall.EPIPE):
		return kindf(farpipe.ErrBrokenPipe, "farpipe: map: standard output was closed before the end: %v", err)
	}
	return err
}

// errMapFailed marks a chunk whose command failed: exit status 7.
var errMapFailed = errors.New("farpipe: map: a command failed")

// fileBlock is the default chunk size of a regular file of size bytes:
// chunks cost no memory there (they are spliced from the file), while every
// chunk costs a process, about a millisecond. So the file is cut in about 8
// chunks per job, of 1 MiB to 64 MiB, the way GNU parallel's --block -1
// cuts one per job.
func fileBlock(size int64, jobs int) int {
	b := size / int64(8*jobs)
	return int(min(max(b, flow.DefaultBlock), 64<<20))
}

// mapSource returns the chunks of in: read in place when it is a regular
// file, through memory otherwise. done puts a regular file's offset at its
// end, as if it had been read.
func mapSource(ctx context.Context, in *os.File, cfg flow.Config, autoBlock bool, jobs int) (flow.Source, func(), error) {
	fi, err := in.Stat()
	if err == nil && fi.Mode().IsRegular() {
		if base, err := in.Seek(0, io.SeekCurrent); err == nil && base <= fi.Size() {
			if autoBlock {
				cfg.Block = fileBlock(fi.Size()-base, jobs)
			}
			src, err := flow.NewFileChunker(in, base, fi.Size()-base, cfg)
			if err != nil {
				return nil, nil, usagef("map: %v", err)
			}
			return src, func() { in.Seek(0, io.SeekEnd) }, nil
		}
	}
	growPipe(in)
	r, done := interruptibleStdin(ctx, in)
	src, err := flow.NewChunker(r, cfg)
	if err != nil {
		done()
		return nil, nil, usagef("map: %v", err)
	}
	return src, done, nil
}

// byteRange names the bytes of a chunk, the last one included.
func byteRange(off, size int64) string {
	if size == 0 {
		return fmt.Sprintf("no bytes, at offset %d", off)
	}
	return fmt.Sprintf("bytes %d-%d", off, off+size-1)
}
