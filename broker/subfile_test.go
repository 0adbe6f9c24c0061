package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// durStream is a durable consumer's view of a stream of fixed messages
// (positions 1 to len(msgs)): a new subscription delivers, in order, the
// messages not acknowledged (as JetStream after a reset), or every message
// from the first one not acknowledged (as a Kafka group's committed
// offset). A crash plan kills the subscriber at a chosen point.
type durStream struct {
	msgs  []Message
	acked map[uint64]bool
	floor bool // deliver again from the first message not acknowledged
	plan  *crashPlan
}

func (s *durStream) Publisher(context.Context, string) (Publisher, error) {
	return nil, errors.New("read only")
}
func (s *durStream) Close() error { return nil }

func (s *durStream) Subscribe(context.Context, SubConfig) (Subscription, error) {
	sub := &durSub{s: s}
	first := uint64(len(s.msgs) + 1)
	for p := uint64(1); p <= uint64(len(s.msgs)); p++ {
		if !s.acked[p] {
			first = p
			break
		}
	}
	for p := first; p <= uint64(len(s.msgs)); p++ {
		if s.floor || !s.acked[p] {
			sub.list = append(sub.list, p)
		}
	}
	return sub, nil
}

type durSub struct {
	s    *durStream
	list []uint64
}

func (d *durSub) Close() error { return nil }

func (d *durSub) Next(context.Context) (Delivery, error) {
	if d.s.plan.dead {
		return Delivery{}, errCrash
	}
	if len(d.list) == 0 {
		return Delivery{}, io.EOF
	}
	pos := d.list[0]
	d.list = d.list[1:]
	m := d.s.msgs[pos-1]
	return Delivery{Data: m.Data, Publisher: m.Publisher, Pos: pos, Ack: func(context.Context) error {
		// Only first acknowledgements count towards the crash: from
		// the floor, a run acknowledges many skipped messages again.
		if !d.s.acked[pos] && !d.s.plan.hit(crashAck) {
			d.s.acked[pos] = true
		}
		return nil
	}}, nil
}

// Where a crash plan kills the subscriber.
type crashAt int

const (
	crashWrite      crashAt = iota // in the middle of writing to the file
	crashSaveBefore                // after writing, before the checkpoint
	crashSaveAfter                 // after the checkpoint, before the acknowledgement
	crashAck                       // between acknowledgements
	crashKinds
)

var errCrash = errors.New("crashed")

// crashPlan kills the subscriber at the n-th event of kind at: from then
// on nothing is written, saved or acknowledged.
type crashPlan struct {
	at   crashAt
	n    int
	dead bool
}

// hit reports whether the subscriber is dead at this event of kind k.
func (c *crashPlan) hit(k crashAt) bool {
	if !c.dead && k == c.at {
		c.n--
		c.dead = c.n == 0
		return c.dead
	}
	return c.dead
}

// crashFile is a SubFile that dies as its plan says.
type crashFile struct {
	sf   *SubFile
	plan *crashPlan
}

func (c crashFile) Write(p []byte) (int, error) {
	if c.plan.dead {
		return 0, errCrash
	}
	if c.plan.hit(crashWrite) { // killed in the middle of a write
		n, _ := c.sf.Write(p[:len(p)/2])
		return n, errCrash
	}
	return c.sf.Write(p)
}

func (c crashFile) Written() Written { return c.sf.Written() }

func (c crashFile) Save(w Written) error {
	if c.plan.dead || c.plan.hit(crashSaveBefore) {
		return errCrash
	}
	if err := c.sf.Save(w); err != nil {
		return err
	}
	if c.plan.hit(crashSaveAfter) {
		return errCrash
	}
	return nil
}

// interleaved returns the messages of four publishers mixed at random,
// each publisher's in order: a and b pack short records, c's records are
// longer than a message (pieces, which other publishers' messages come
// between), and d leaves a record in pieces unfinished now and then (a
// publisher restarted), which Sub drops.
func interleaved(rnd *rand.Rand) []Message {
	const maxMsg, maxPiece = 120, 50
	var per [][]Message
	for _, id := range []string{"a", "b", "c", "d"} {
		var ms []Message
		var cur []byte
		flush := func() {
			if cur != nil {
				ms = append(ms, Message{Publisher: id, Data: cur})
				cur = nil
			}
		}
		for i := uint64(0); i < 60; i++ {
			n := 10 + rnd.IntN(30)
			if id == "c" || id == "d" && i%7 == 3 {
				n = 60 + rnd.IntN(150)
			}
			rec := []byte(fmt.Sprintf("%s %d %s\n", id, i, strings.Repeat("x", n)))
			if len(rec) <= maxPiece {
				if cur != nil && len(cur)+RecordSize(len(rec)) > maxMsg {
					flush()
				}
				if cur == nil {
					cur = AppendHeader(nil, Header{Rec: i})
				}
				cur = AppendRecord(cur, rec)
				continue
			}
			flush()
			abandon := id == "d" // d's long records stop after two pieces
			for off := 0; off < len(rec); off += maxPiece {
				end := min(off+maxPiece, len(rec))
				h := Header{Rec: i, Off: uint64(off), Cont: off > 0, More: end < len(rec)}
				ms = append(ms, Message{Publisher: id, Data: AppendRecord(AppendHeader(nil, h), rec[off:end])})
				if abandon && off > 0 {
					break
				}
			}
		}
		flush()
		per = append(per, ms)
	}
	var out []Message
	for {
		var left []int
		for i, ms := range per {
			if len(ms) > 0 {
				left = append(left, i)
			}
		}
		if len(left) == 0 {
			return out
		}
		i := left[rnd.IntN(len(left))]
		out = append(out, per[i][0])
		per[i] = per[i][1:]
	}
}

// TestSubFileCrashes: a subscriber writing to a SubFile is killed again
// and again (in the middle of a write, after a write and before its
// checkpoint, after the checkpoint and before the acknowledgement, between
// the acknowledgements of a record's pieces) and started again until it
// reaches the stream's end: the file holds exactly what one uninterrupted
// Sub writes, with records in pieces interleaved with other publishers'
// messages.
func TestSubFileCrashes(t *testing.T) {
	for _, floor := range []bool{false, true} {
		for kind := crashAt(0); kind <= crashKinds; kind++ { // crashKinds: any kind, each run
			name := fmt.Sprintf("floor=%v/kind=%d", floor, kind)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				for seed := range uint64(4) {
					rnd := rand.New(rand.NewPCG(seed, uint64(kind)))
					msgs := interleaved(rnd)
					var want bytes.Buffer
					ref := &durStream{msgs: msgs, acked: map[uint64]bool{}, plan: &crashPlan{n: -1}}
					if _, err := Sub(context.Background(), ref, &want, SubOptions{SubConfig: SubConfig{Durable: "d"}}); err != nil {
						t.Fatal(err)
					}
					path := filepath.Join(t.TempDir(), "out")
					if err := os.WriteFile(path, []byte("before\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					s := &durStream{msgs: msgs, acked: map[uint64]bool{}, floor: floor}
					crashes, again := 0, uint64(0)
					for run := 0; ; run++ {
						if run > 2000 {
							t.Fatalf("seed %d: no run reached the end in 2000", seed)
						}
						k := kind
						if k == crashKinds {
							k = crashAt(rnd.IntN(int(crashKinds)))
						}
						s.plan = &crashPlan{at: k, n: 1 + rnd.IntN(12)}
						sf, err := OpenSubFile(path, SubFileConfig{Stream: "mem://x/s", Durable: "d"})
						if err != nil {
							t.Fatal(err)
						}
						cf := crashFile{sf, s.plan}
						st, err := Sub(context.Background(), s, cf, SubOptions{SubConfig: SubConfig{Durable: "d"}, Checkpoint: cf})
						sf.Close()
						again += st.Again
						if err == nil {
							break
						}
						if !errors.Is(err, errCrash) {
							t.Fatalf("seed %d run %d: %v", seed, run, err)
						}
						crashes++
					}
					got, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if w := append([]byte("before\n"), want.Bytes()...); !bytes.Equal(got, w) {
						t.Fatalf("seed %d: after %d crashes the file holds %d bytes, want %d:\n%s\nwant:\n%s", seed, crashes, len(got), len(w), got, w)
					}
					if crashes < 5 {
						t.Fatalf("seed %d: only %d crashes: the test tests little", seed, crashes)
					}
					if seed == 0 {
						t.Logf("%d messages, %d bytes written through %d crashes; %d messages delivered again and skipped", len(msgs), want.Len(), crashes, again)
					}
				}
			})
		}
	}
}

// TestSubFileOpen: the checkpoint names its subscriber; a file shorter
// than its checkpoint, a second writer and a missing durable name are
// refused; a new checkpoint appends to what the file held.
func TestSubFileOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	cfg := SubFileConfig{Stream: "amqp://user:secret@host:5672/q", Durable: "d"}
	sf, err := OpenSubFile(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSubFile(path, cfg); err == nil {
		t.Error("a second OpenSubFile of the same file succeeded, want refused while the first holds it")
	}
	sf.Write([]byte("one\n"))
	if err := sf.Save(Written{High: 3, Holes: []uint64{2}}); err != nil {
		t.Fatal(err)
	}
	sf.Write([]byte("not saved\n"))
	sf.Close()
	cp, _ := os.ReadFile(path + SubFileSuffix)
	if bytes.Contains(cp, []byte("secret")) || !bytes.Contains(cp, []byte(`"stream":"amqp://host:5672/q"`)) {
		t.Errorf("the checkpoint holds %s, want the address without its login", cp)
	}

	sf, err = OpenSubFile(path, SubFileConfig{Stream: "amqp://other@host:5672/q", Durable: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "one\n" {
		t.Errorf("reopened, the file holds %q, want it cut back to %q", got, "one\n")
	}
	if w := sf.Written(); w.High != 3 || len(w.Holes) != 1 || !w.Has(1) || w.Has(2) || !w.Has(3) || w.Has(4) {
		t.Errorf("Written = %+v, want high 3 and the hole 2", w)
	}
	sf.Close()

	for _, tt := range []struct {
		name string
		cfg  SubFileConfig
		prep func()
	}{
		{"another durable", SubFileConfig{Stream: cfg.Stream, Durable: "e"}, nil},
		{"another stream", SubFileConfig{Stream: "amqp://host:5672/r", Durable: "d"}, nil},
		{"no durable", SubFileConfig{Stream: cfg.Stream}, nil},
		{"file cut", cfg, func() { os.Truncate(path, 2) }},
		{"damaged", cfg, func() { os.WriteFile(path+SubFileSuffix, []byte(`{"farpipe_sub":1,"high":2,"holes":[3]}`), 0o644) }},
	} {
		if tt.prep != nil {
			tt.prep()
		}
		sf, err := OpenSubFile(path, tt.cfg)
		if err == nil {
			sf.Close()
		}
		if !errors.Is(err, ErrCheckpoint) || !strings.HasPrefix(err.Error(), "farpipe: ") {
			t.Errorf("%s: OpenSubFile = %v, want ErrCheckpoint", tt.name, err)
		}
	}

	// A new checkpoint beside a file that holds something: appended to.
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("kept\n"), 0o644)
	sf, err = OpenSubFile(other, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sf.Write([]byte("new\n"))
	sf.Save(Written{High: 1})
	sf.Close()
	if got, _ := os.ReadFile(other); string(got) != "kept\nnew\n" {
		t.Errorf("the file holds %q, want %q", got, "kept\nnew\n")
	}

	// The journal: a torn or damaged last line is not taken, the line
	// before it is; past journalMax it is rewritten with its last line.
	sf, err = OpenSubFile(other, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		sf.Write([]byte("x"))
		if err := sf.Save(Written{High: uint64(i + 2), Holes: []uint64{1}}); err != nil {
			t.Fatal(err)
		}
	}
	sf.Close()
	if fi, err := os.Stat(other + SubFileSuffix); err != nil || fi.Size() > journalMax {
		t.Errorf("after 10,000 saves the checkpoint is %v bytes (%v), want at most %d", fi.Size(), err, journalMax)
	}
	j, _ := os.OpenFile(other+SubFileSuffix, os.O_WRONLY|os.O_APPEND, 0)
	j.Write([]byte("00000000 {\"farpipe_sub\":1,\"length\":1}\n{\"torn"))
	j.Close()
	os.WriteFile(other, append([]byte("kept\nnew\n"), bytes.Repeat([]byte("x"), 10000+5)...), 0o644)
	sf, err = OpenSubFile(other, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w := sf.Written(); w.High != 10001 || sf.Size() != 9+10000 {
		t.Errorf("after a damaged line and a torn one, Written = %+v and the size %d, want high 10001 and %d bytes", w, sf.Size(), 9+10000)
	}
	sf.Close()

	// With Sync: the same, synced.
	synced := filepath.Join(dir, "synced")
	scfg := SubFileConfig{Stream: "nats://r/s", Durable: "d", Sync: true}
	for _, rec := range []string{"a\n", "b\n"} {
		sf, err = OpenSubFile(synced, scfg)
		if err != nil {
			t.Fatal(err)
		}
		sf.Write([]byte(rec))
		if err := sf.Save(Written{High: uint64(len(rec))}); err != nil {
			t.Fatal(err)
		}
		sf.Write([]byte("unsaved\n"))
		sf.Close()
	}
	if got, _ := os.ReadFile(synced); string(got) != "a\nb\nunsaved\n" {
		t.Errorf("with Sync the file holds %q, want %q", got, "a\nb\nunsaved\n")
	}
}

// BenchmarkSubFileSave: the cost of a checkpoint, paid once per message
// written (go test -bench SubFileSave ./broker).
func BenchmarkSubFileSave(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			sf, err := OpenSubFile(filepath.Join(b.TempDir(), "out"), SubFileConfig{Stream: "nats://r/s", Durable: "d", Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer sf.Close()
			rec := bytes.Repeat([]byte("x"), 64)
			for i := 0; b.Loop(); i++ {
				sf.Write(rec)
				if err := sf.Save(Written{High: uint64(i), Holes: []uint64{uint64(i / 2)}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestWithoutLogin(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://u:p@h:5672/q":      "amqp://h:5672/q",
		"kafka://a:1,b:2/t":        "kafka://a:1,b:2/t",
		"nats://tok@relay":         "nats://relay",
		"nats://relay/s@x":         "nats://relay/s@x",
		"amqp://u:p@h/vh/q?x=1":    "amqp://h/vh/q?x=1",
		"nats://u:p@r@h:4222/logs": "nats://h:4222/logs",
	} {
		if got := withoutLogin(in); got != want {
			t.Errorf("withoutLogin(%q) = %q, want %q", in, got, want)
		}
	}
}
