//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// crocModule is the croc the relay part compares with, installed with
// go install through the module proxy into the user's cache directory.
const crocModule = "github.com/schollz/croc/v10@v10.7.0"

// crocPeer is croc with its own relay on loopback. croc sends files, not
// standard input (with stdin it writes a temporary file first), so the
// harness writes the transfer's bytes to a file in tmpfs once, before
// the rounds, and each transfer sends that file: the clock runs from
// starting croc send and croc receive until croc receive has exited with
// the whole file written (croc checks its hash before it exits); the
// harness then compares the file's SHA-256, outside the clock.
type crocPeer struct {
	h     *harness
	bin   string
	home  string // HOME of every croc process: croc keeps its settings there
	pass  string // the relay's password
	relay *child
	port  int    // the relay's first port; it uses four more
	dir   string // tmpfs directory of the file sent and received
	file  string // the file sent
	sum   string // its SHA-256, hex
}

// prepareCroc finds croc in the cache or installs it there, and starts
// `croc relay` on five loopback ports.
func prepareCroc(ctx context.Context, h *harness) (*crocPeer, error) {
	bin, err := ensureCroc(ctx)
	if err != nil {
		return nil, err
	}
	c := &crocPeer{h: h, bin: bin, home: filepath.Join(h.tmp, "croc-home")}
	if err := os.MkdirAll(c.home, 0o700); err != nil {
		return nil, err
	}
	pw := make([]byte, 12)
	rand.Read(pw)
	c.pass = hex.EncodeToString(pw)
	// croc relay listens on 0.0.0.0 whatever --host says; find five
	// consecutive free ports.
	for try := 0; try < 20 && c.relay == nil; try++ {
		base, err := freePort()
		if err != nil || base > 65530 {
			continue
		}
		var ports []string
		for i := range 5 {
			ports = append(ports, strconv.Itoa(base+i))
		}
		cmd := exec.CommandContext(context.Background(), bin, "--pass", c.pass, "relay", "--host", "127.0.0.1", "--ports", strings.Join(ports, ","))
		cmd.Env = c.env()
		p, err := startChild("croc relay", cmd)
		if err != nil {
			return nil, err
		}
		if err := waitListening(ctx, base+4, p); err != nil {
			p.stop() // a port was taken between freePort and now: try others
			continue
		}
		c.relay, c.port = p, base
	}
	if c.relay == nil {
		return nil, fmt.Errorf("croc relay did not start on five consecutive free ports in 20 tries")
	}
	return c, nil
}

// ensureCroc is the path of croc in the cache directory, installed there
// with go install if it is missing.
func ensureCroc(ctx context.Context) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "farpipe-bench", "croc-"+crocModule[strings.LastIndexByte(crocModule, '@')+1:])
	bin := filepath.Join(dir, "croc")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("installing croc: GOBIN=%s go install %s", dir, crocModule)
	cmd := exec.CommandContext(ctx, "go", "install", crocModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	cmd.Dir = os.TempDir() // outside the farpipe module
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s failed: %v: %s", crocModule, err, strings.Join(strings.Fields(string(out)), " "))
	}
	return bin, nil
}

// env is the environment of every croc process.
func (c *crocPeer) env() []string {
	return append(os.Environ(), "HOME="+c.home, "XDG_CONFIG_HOME="+filepath.Join(c.home, ".config"))
}

// writeFile writes the bytes of the data set d (size of them) to the file
// croc sends, and its SHA-256.
func (c *crocPeer) writeFile(ctx context.Context, d *dataset) error {
	dir, err := os.MkdirTemp(c.h.cfg.tmpfs, "farpipe-bench-croc-")
	if err != nil {
		return fmt.Errorf("the file to send: %v (choose a tmpfs with --tmpfs)", err)
	}
	c.dir, c.file = dir, filepath.Join(dir, "data")
	f, err := os.Create(c.file)
	if err != nil {
		return fmt.Errorf("the file to send: %v", err)
	}
	defer f.Close()
	logf("writing the %d MiB file croc sends to %s", c.h.cfg.size>>20, c.file)
	sum := sha256.New()
	cmd := exec.CommandContext(ctx, d.producer[0], d.producer[1:]...)
	cmd.Stdout = io.MultiWriter(f, sum)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the file to send: %s: %v", strings.Join(d.producer, " "), err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != c.h.cfg.size {
		return fmt.Errorf("the file to send: it did not get %d bytes (%v)", c.h.cfg.size, err)
	}
	c.sum = hex.EncodeToString(sum.Sum(nil))
	return nil
}

// trial sends the file through croc's relay once. size and d are those
// of writeFile: croc always sends the same file.
func (c *crocPeer) trial(ctx context.Context, _ *dataset, size int64) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, c.h.cfg.timeout)
	defer cancel()
	c.h.trials++
	out := filepath.Join(c.dir, "out-"+strconv.Itoa(c.h.trials))
	if err := os.Mkdir(out, 0o700); err != nil {
		return sample{}, fmt.Errorf("farpipe bench: %v", err)
	}
	defer os.RemoveAll(out)
	code := make([]byte, 8)
	rand.Read(code)
	relay := loopback(c.port)
	secret := "CROC_SECRET=" + strconv.Itoa(c.h.trials) + "-bench-" + hex.EncodeToString(code)
	common := []string{c.bin, "--relay", relay, "--pass", c.pass, "--yes"}
	var procs []*child
	defer func() {
		cancel()
		for _, p := range procs {
			<-p.done
		}
	}()
	start := func(role string, argv []string, stderr io.Writer) (*child, error) {
		usage := ""
		if c.h.haveTime {
			usage = filepath.Join(c.h.tmp, fmt.Sprintf("usage-%d-%s", c.h.trials, role))
			argv = timed(usage, argv)
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(c.env(), secret)
		cmd.Dir = out
		cmd.Stderr = stderr
		p, err := startChild(role, cmd)
		if err == nil {
			p.usageFile = usage
			procs = append(procs, p)
		}
		return p, err
	}
	began := time.Now()
	// --no-local: through the relay, not croc's own local one.
	codeShown := newWatch("Code is")
	send, err := start("send", append(common, "send", "--no-local", c.file), codeShown)
	if err != nil {
		return sample{}, err
	}
	// The receiver starts once the sender shows its code, as a person
	// would: croc v10.7.0 fails to secure the channel ("problem with
	// decoding: invalid character", croc#1171) when the receiver reaches
	// the relay while the sender is still hashing its file.
	select {
	case <-codeShown.seen:
	case <-send.done:
		return sample{}, fmt.Errorf("farpipe bench: croc send exited before showing its code: %v%s", send.err, send.stderr.suffix())
	case <-ctx.Done():
		return sample{}, fmt.Errorf("farpipe bench: croc send showed no code within %s%s", c.h.cfg.timeout, send.stderr.suffix())
	}
	recv, err := start("recv", append(common, "--overwrite", "--out", out), nil)
	if err != nil {
		return sample{}, err
	}
	rerr := recv.wait()
	elapsed := time.Since(began)
	serr := send.wait()
	switch {
	case rerr != nil:
		return sample{}, rerr
	case serr != nil:
		return sample{}, serr
	}
	if err := checkFile(filepath.Join(out, filepath.Base(c.file)), size, c.sum); err != nil {
		return sample{}, err
	}
	s := sample{bytes: size, seconds: elapsed.Seconds()}
	sendCPU, sendRSS, err := send.usage()
	if err != nil {
		return sample{}, err
	}
	recvCPU, recvRSS, err := recv.usage()
	if err != nil {
		return sample{}, err
	}
	s.cpu, s.sendRSS, s.recvRSS = sendCPU+recvCPU, sendRSS, recvRSS
	return s, nil
}

// watch is a writer that closes seen once want has been written to it.
type watch struct {
	mu   sync.Mutex
	want []byte
	tail []byte
	done bool
	seen chan struct{}
}

func newWatch(want string) *watch { return &watch{want: []byte(want), seen: make(chan struct{})} }

func (w *watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	w.tail = append(w.tail, p...)
	if bytes.Contains(w.tail, w.want) {
		close(w.seen)
		w.done, w.tail = true, nil
		return len(p), nil
	}
	if keep := len(w.want) - 1; len(w.tail) > keep {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-keep:]...)
	}
	return len(p), nil
}

// checkFile checks that the file at path has size bytes with SHA-256 sum.
func checkFile(path string, size int64, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("farpipe bench: croc's received file: %v", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("farpipe bench: croc's received file: %v", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sum {
		return fmt.Errorf("farpipe bench: croc's received file has %d bytes with SHA-256 %s, want %d bytes with %s", n, got, size, sum)
	}
	return nil
}

// close stops croc's relay and removes the files.
func (c *crocPeer) close() {
	if c.relay != nil {
		c.relay.stop()
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}
