package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// SubFile is a file that Sub appends records to, with a checkpoint beside
// it (FILE.farpipe-sub): the transactional-sink pattern. After writing the
// records of a message and before acknowledging it, Sub saves in the
// checkpoint the file's length and which messages were written. A
// subscriber killed at any point and started again cuts the file back to
// the saved length (what follows is the output of messages not yet
// recorded: the broker delivers them again) and skips the messages the
// checkpoint says were written: every record is in the file exactly once.
//
// The checkpoint is a journal: each Save appends one line, "CRC JSON"
// (the CRC-32 of the JSON in hex), with one write(2); the last whole line
// whose CRC matches is the checkpoint. (Writing a new file and renaming it
// over the old one costs about 0.5 ms on ext4, which starts writing the
// new file back at each rename; an append, microseconds.) When the journal
// passes journalMax bytes, and when a SubFile is opened, it is rewritten
// with its last line (a new file renamed over it).
//
// Without SubFileConfig.Sync the file and the checkpoint are written to
// the kernel (the page cache), which keeps them when the process dies: a
// SIGKILL, a crash of sub. With Sync, each Save first syncs the file, then
// appends to the journal and syncs it: a crash of the machine (power loss)
// keeps them too, at the cost of two fsyncs per message written. A torn
// last line is not taken (its CRC fails): the line before it is.
//
// A SubFile is used by one goroutine (Sub's); on Unix it holds an
// exclusive lock (flock) on the file, so that one process at a time
// writes it.
type SubFile struct {
	f      *os.File
	path   string   // the checkpoint's
	j      *os.File // the checkpoint, appended to
	jsize  int64
	sync   bool
	size   int64
	cp     subCheckpoint
	unlock func()
}

// journalMax is the size past which the checkpoint is rewritten.
const journalMax = 1 << 20

// SubFileConfig says which subscriber writes a SubFile.
type SubFileConfig struct {
	// Stream is the stream's address (its login, if any, is not kept).
	Stream string
	// Durable is the subscriber's durable name: without one, the broker
	// keeps no place to resume from.
	Durable string
	// Sync makes every Save sync the file and the checkpoint to storage.
	Sync bool
}

// SubFileSuffix ends the name of a SubFile's checkpoint: FILE.farpipe-sub.
const SubFileSuffix = ".farpipe-sub"

// subCheckpoint is the checkpoint file's content (JSON).
type subCheckpoint struct {
	Version int    `json:"farpipe_sub"` // 1
	Stream  string `json:"stream"`
	Durable string `json:"durable"`
	Length  int64  `json:"length"` // the file's length after the last message written
	Written
}

// ErrCheckpoint: a SubFile's checkpoint does not fit the file or the
// subscriber.
var ErrCheckpoint = errors.New("farpipe: the checkpoint of the output file does not fit")

// OpenSubFile opens (or creates) the file at path for appending records,
// and its checkpoint: when there is one, the file is cut back to the
// length it saved. The checkpoint must be of the same stream and durable
// name.
func OpenSubFile(path string, c SubFileConfig) (*SubFile, error) {
	if c.Durable == "" {
		return nil, fmt.Errorf("%w: writing to %s needs a durable name (sub --durable NAME), so that a restart resumes where the file ends", ErrCheckpoint, path)
	}
	c.Stream = withoutLogin(c.Stream)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("farpipe: opening the output file: %w", err)
	}
	sf := &SubFile{f: f, path: path + SubFileSuffix, sync: c.Sync, unlock: func() {}}
	if err := sf.open(c); err != nil {
		sf.Close()
		return nil, err
	}
	return sf, nil
}

func (sf *SubFile) open(c SubFileConfig) error {
	unlock, err := lockFile(sf.f)
	if err != nil {
		return fmt.Errorf("farpipe: %s is being written by another process (another farpipe sub?): one at a time: %w", sf.f.Name(), err)
	}
	sf.unlock = unlock
	fi, err := sf.f.Stat()
	if err != nil {
		return fmt.Errorf("farpipe: the output file: %w", err)
	}
	b, err := os.ReadFile(sf.path)
	if errors.Is(err, fs.ErrNotExist) { // a new checkpoint: the file's records are not ours
		sf.cp = subCheckpoint{Version: 1, Stream: c.Stream, Durable: c.Durable}
		sf.size = fi.Size()
		if _, err := sf.f.Seek(sf.size, io.SeekStart); err != nil {
			return fmt.Errorf("farpipe: the output file: %w", err)
		}
		return sf.Save(Written{})
	}
	if err != nil {
		return fmt.Errorf("farpipe: reading the checkpoint of the output file: %w", err)
	}
	if err := lastCheckpoint(b, &sf.cp); err != nil || sf.cp.Version != 1 || sf.cp.Length < 0 || !validHoles(sf.cp.Written) {
		return fmt.Errorf("%w: %s is damaged or of another version (%v): remove it (and the file) to start afresh", ErrCheckpoint, sf.path, err)
	}
	if sf.cp.Stream != c.Stream || sf.cp.Durable != c.Durable {
		return fmt.Errorf("%w: %s is the checkpoint of the subscriber %s of %s, not of %s of %s: give another output file, or the same stream and name",
			ErrCheckpoint, sf.path, sf.cp.Durable, sf.cp.Stream, c.Durable, c.Stream)
	}
	if fi.Size() < sf.cp.Length {
		return fmt.Errorf("%w: %s holds %d bytes, fewer than the %d that %s says were written (the file was cut or replaced, or the machine crashed and sub ran without --sync): records are missing from it; remove %s to write on after the file's end",
			ErrCheckpoint, sf.f.Name(), fi.Size(), sf.cp.Length, sf.path, sf.path)
	}
	// What follows the saved length was written for messages not yet
	// saved: the broker delivers them again.
	if err := sf.f.Truncate(sf.cp.Length); err != nil {
		return fmt.Errorf("farpipe: cutting the output file back to its checkpoint: %w", err)
	}
	sf.size = sf.cp.Length
	if _, err := sf.f.Seek(sf.size, io.SeekStart); err != nil {
		return fmt.Errorf("farpipe: the output file: %w", err)
	}
	return sf.Save(sf.cp.Written) // a journal of one line, to append to
}

// validHoles checks a checkpoint's holes: increasing, at most High.
func validHoles(w Written) bool {
	for i, h := range w.Holes {
		if h > w.High || i > 0 && h <= w.Holes[i-1] {
			return false
		}
	}
	return true
}

// Write appends p to the file.
func (sf *SubFile) Write(p []byte) (int, error) {
	n, err := sf.f.Write(p)
	sf.size += int64(n)
	return n, err
}

// Written implements Checkpoint: what the file held when it was opened.
func (sf *SubFile) Written() Written { return sf.cp.Written }

// Size is the file's length: what was written to it.
func (sf *SubFile) Size() int64 { return sf.size }

// Save implements Checkpoint: it records the file's length and w.
func (sf *SubFile) Save(w Written) error {
	if sf.sync {
		if err := sf.f.Sync(); err != nil {
			return fmt.Errorf("syncing the output file: %w", err)
		}
	}
	sf.cp.Length, sf.cp.Written = sf.size, w
	js, err := json.Marshal(sf.cp)
	if err != nil {
		return err
	}
	line := fmt.Appendf(nil, "%08x %s\n", crc32.ChecksumIEEE(js), js)
	if sf.j == nil || sf.jsize+int64(len(line)) > journalMax {
		return sf.rewrite(line)
	}
	n, err := sf.j.Write(line)
	sf.jsize += int64(n)
	if err == nil && sf.sync {
		err = sf.j.Sync()
	}
	if err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	return nil
}

// rewrite makes line the checkpoint's only line: a new file renamed over
// the checkpoint, which Save then appends to.
func (sf *SubFile) rewrite(line []byte) error {
	tmp := sf.path + ".tmp"
	if err := writeFile(tmp, line, sf.sync); err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	if err := os.Rename(tmp, sf.path); err != nil {
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	if sf.sync {
		if err := syncDir(filepath.Dir(sf.path)); err != nil {
			return fmt.Errorf("syncing the checkpoint's directory: %w", err)
		}
	}
	if sf.j != nil {
		sf.j.Close()
	}
	j, err := os.OpenFile(sf.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		sf.j = nil
		return fmt.Errorf("writing the checkpoint: %w", err)
	}
	sf.j, sf.jsize = j, int64(len(line))
	return nil
}

// lastCheckpoint decodes the last whole line of a checkpoint journal whose
// CRC matches.
func lastCheckpoint(b []byte, cp *subCheckpoint) error {
	b = b[:bytes.LastIndexByte(b, '\n')+1] // a torn last line is not taken
	for len(b) > 0 {
		i := bytes.LastIndexByte(b[:len(b)-1], '\n')
		line := b[i+1 : len(b)-1]
		b = b[:i+1]
		sum, js, ok := bytes.Cut(line, []byte(" "))
		if !ok || len(sum) != 8 || fmt.Sprintf("%08x", crc32.ChecksumIEEE(js)) != string(sum) {
			continue
		}
		return json.Unmarshal(js, cp)
	}
	return errors.New("no whole line")
}

// Close closes the file and the checkpoint.
func (sf *SubFile) Close() error {
	if sf.j != nil {
		sf.j.Close()
	}
	sf.unlock()
	return sf.f.Close()
}

func writeFile(name string, b []byte, sync bool) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// withoutLogin is addr without its user and password, which the
// checkpoint does not keep.
func withoutLogin(addr string) string {
	if before, after, ok := CutLogin(addr); ok {
		return before + after
	}
	return addr
}
