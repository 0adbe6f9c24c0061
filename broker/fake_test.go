package broker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memStream is an in-memory Stream whose publishers fail now and then with
// ErrTransient (after storing the message, or not), and whose
// subscriptions deliver some messages twice: what Pub and Sub must hide.
type memStream struct {
	mu    sync.Mutex
	msgs  []Message
	ids   map[string]bool
	calls int
	fail  func(call int) (fail, store bool)
	again func(pos uint64) bool
	// hold, when it says so, keeps a message back and stores it after
	// the next one: out of the order sent, as JetStream may in a failover.
	hold func() bool
	// subCfg is the configuration of the last Subscribe.
	subCfg SubConfig
	held   *heldMsg
	// list makes its publishers StoredListers; removed counts the
	// messages Truncate removed (that a live subscriber may have seen).
	list    bool
	removed int
}

type heldMsg struct {
	m   Message
	ack func(uint64, error)
}

// store appends m unless its id is known and returns its position; s.mu
// is held.
func (s *memStream) store(m Message) uint64 {
	if s.ids[m.ID] {
		return 0
	}
	s.ids[m.ID] = true
	s.msgs = append(s.msgs, Message{ID: m.ID, Publisher: m.Publisher, Data: bytes.Clone(m.Data)})
	return uint64(len(s.msgs))
}

func (s *memStream) Publisher(context.Context, string) (Publisher, error) {
	if s.list {
		return memListPub{memPub{s}}, nil
	}
	return memPub{s}, nil
}
func (s *memStream) Close() error { return nil }

type memPub struct{ s *memStream }

func (p memPub) Last(context.Context) ([]byte, uint64, error) { return nil, 0, nil }
func (p memPub) Close() error                                 { return nil }

func (p memPub) Truncate(_ context.Context, after uint64) error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	for _, m := range p.s.msgs[after:] {
		delete(p.s.ids, m.ID) // lets the test see a resend that dedup would hide
		p.s.removed++
	}
	p.s.msgs = p.s.msgs[:after]
	return nil
}

func (p memPub) Publish(_ context.Context, m Message, _ uint64, ack func(uint64, error)) error {
	s := p.s
	s.mu.Lock()
	s.calls++
	fail, store := s.fail(s.calls)
	if !fail && s.held == nil && s.hold != nil && s.hold() {
		h := &heldMsg{m, ack}
		s.held = h
		s.mu.Unlock()
		// Stored after the next message, or later if none comes.
		time.AfterFunc(20*time.Millisecond, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.held == h {
				s.held = nil
				pos := s.store(h.m)
				go h.ack(pos, nil)
			}
		})
		return nil
	}
	pos := uint64(len(s.msgs))
	if !fail || store {
		if p := s.store(m); p > 0 {
			pos = p
		}
	}
	if h := s.held; h != nil {
		s.held = nil
		hp := s.store(h.m)
		go h.ack(hp, nil)
	}
	s.mu.Unlock()
	if fail {
		go ack(0, fmt.Errorf("%w: injected", ErrTransient))
	} else {
		go ack(pos, nil)
	}
	return nil
}

// memListPub is a memPub that lists what it stored (one publisher).
type memListPub struct{ memPub }

func (p memListPub) StoredAfter(_ context.Context, after uint64, limit int) ([]StoredMessage, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	var got []StoredMessage
	for i := int(after); i < len(p.s.msgs) && len(got) <= limit; i++ {
		got = append(got, StoredMessage{ID: p.s.msgs[i].ID, Pos: uint64(i + 1)})
	}
	return got, nil
}

func (s *memStream) Subscribe(_ context.Context, cfg SubConfig) (Subscription, error) {
	s.mu.Lock()
	s.subCfg = cfg
	s.mu.Unlock()
	return &memSub{s: s}, nil
}

type memSub struct {
	s     *memStream
	next  int
	again []Delivery
}

func (m *memSub) Close() error { return nil }

func (m *memSub) Next(context.Context) (Delivery, error) {
	if len(m.again) > 0 && m.next%3 == 0 {
		d := m.again[0]
		m.again = m.again[1:]
		return d, nil
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if m.next >= len(m.s.msgs) {
		if len(m.again) > 0 {
			d := m.again[0]
			m.again = m.again[1:]
			return d, nil
		}
		return Delivery{}, io.EOF
	}
	msg := m.s.msgs[m.next]
	m.next++
	d := Delivery{Data: msg.Data, Publisher: msg.Publisher, Pos: uint64(m.next), Ack: func(context.Context) error { return nil }}
	if m.s.again(d.Pos) {
		m.again = append(m.again, d)
	}
	return d, nil
}

// TestPubSubFaults: messages the broker does not confirm are sent again,
// in order, and stored once; messages delivered twice are written once.
func TestPubSubFaults(t *testing.T) {
	never := func(*rand.Rand) func(int) (bool, bool) { return nil }
	every := func(n int, store bool) func(*rand.Rand) func(int) (bool, bool) {
		return func(rnd *rand.Rand) func(int) (bool, bool) {
			return func(int) (bool, bool) { return rnd.IntN(n) == 0, store }
		}
	}
	sometimes := func(rnd *rand.Rand) func() bool { return func() bool { return rnd.IntN(20) == 0 } }
	for _, tt := range []struct {
		name string
		fail func(*rand.Rand) func(int) (bool, bool)
		hold func(*rand.Rand) func() bool
		list bool // the publisher lists what it stored
	}{
		{"no faults", never, nil, false},
		{"lost", every(20, false), nil, false},
		{"stored, confirmation lost", every(20, true), nil, false},
		{"stored out of order", never, sometimes, false},
		{"lost, listed", every(20, false), nil, true},
		{"stored, confirmation lost, listed", every(20, true), nil, true},
		{"stored out of order, listed", never, sometimes, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Faults at random, each subtest its own source: a lost message
			// has the publisher send the window again, with a backoff of up
			// to 2 s when nothing progressed, so the rate is kept low
			// enough for the test to end in seconds.
			rnd := rand.New(rand.NewPCG(1, 2)) // called under memStream.mu
			fail := tt.fail(rnd)
			if fail == nil {
				fail = func(int) (bool, bool) { return false, false }
			}
			var hold func() bool
			if tt.hold != nil {
				hold = tt.hold(rnd)
			}
			var in bytes.Buffer
			for i := range 600 {
				fmt.Fprintf(&in, "record %d %s\n", i, bytes.Repeat([]byte("x"), i%300))
			}
			s := &memStream{ids: map[string]bool{}, fail: fail, hold: hold, list: tt.list, again: func(p uint64) bool { return p%4 == 0 }}
			ctx := context.Background()
			var storedRecs, storedBytes atomic.Uint64 // PubConfig.Stored's live counts
			st, err := Pub(ctx, s, bytes.NewReader(in.Bytes()), PubConfig{ID: "p", MaxMessage: 256, MaxInFlight: 8,
				Stored: func(recs, n int) { storedRecs.Add(uint64(recs)); storedBytes.Add(uint64(n)) }})
			if err != nil || st.Records != 600 {
				t.Fatalf("Pub = %+v, %v; want 600 records stored", st, err)
			}
			if storedRecs.Load() != st.Records || storedBytes.Load() != st.Bytes {
				t.Errorf("Stored counted %d records, %d bytes; Pub %d, %d", storedRecs.Load(), storedBytes.Load(), st.Records, st.Bytes)
			}
			var out bytes.Buffer
			var last SubStats
			sst, err := Sub(ctx, s, &out, SubOptions{Progress: func(st SubStats, _ uint64) { last = st }})
			if err != nil || !bytes.Equal(out.Bytes(), in.Bytes()) {
				t.Fatalf("Sub wrote %d bytes (%v), want the %d published", out.Len(), err, in.Len())
			}
			if last != sst {
				t.Errorf("Progress said %+v last, Sub returned %+v", last, sst)
			}
			if sst.Again == 0 {
				t.Error("no message was delivered twice: the test tests nothing")
			}
			// Stored messages whose confirmation was lost are kept when the
			// publisher can list them: a live subscriber saw them once.
			if tt.name == "stored, confirmation lost, listed" && s.removed > 0 {
				t.Errorf("%d stored messages were removed and sent again", s.removed)
			}
			t.Logf("%d messages removed and sent again", s.removed)
		})
	}
}

// TestSubReplaysDurable: a durable subscriber's consumer goes back to its
// acknowledgement floor when it resumes (SubConfig.Replay), with or
// without a checkpoint: otherwise the last piece of a record could come
// before its beginning and the record be lost.
func TestSubReplaysDurable(t *testing.T) {
	for _, durable := range []string{"", "archiver"} {
		s := &memStream{ids: map[string]bool{}, fail: func(int) (bool, bool) { return false, false }}
		if _, err := Sub(context.Background(), s, io.Discard, SubOptions{SubConfig: SubConfig{Durable: durable}}); err != nil {
			t.Fatal(err)
		}
		if got, want := s.subCfg.Replay, durable != ""; got != want {
			t.Errorf("durable %q: Replay = %v, want %v", durable, got, want)
		}
	}
}
