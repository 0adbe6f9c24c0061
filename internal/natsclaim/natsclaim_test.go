package natsclaim

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestTally checks the decisions on made-up answers: every probe "no
// responders" or "gone" keeps the name, one other answer refuses it, the
// monitor check and answers to other claims count for nothing.
func TestTally(t *testing.T) {
	noResponders := func(subj string) *nats.Msg {
		return &nats.Msg{Subject: subj, Header: nats.Header{"Status": []string{"503"}}}
	}
	gone := func(data []byte) bool { return string(data) == "gone" }
	probe := func(i int) string { return fmt.Sprintf("r.%d", i) }
	for _, tc := range []struct {
		name      string
		answers   func(add func(*nats.Msg) (bool, bool))
		done      bool
		keep      bool
		monitored bool
	}{
		{"all free", func(add func(*nats.Msg) (bool, bool)) {
			add(noResponders("r.m"))
			for i := range Bits - 1 {
				add(noResponders(probe(i)))
			}
			add(&nats.Msg{Subject: probe(Bits - 1), Data: []byte("gone")})
		}, true, true, false},
		{"one taken", func(add func(*nats.Msg) (bool, bool)) {
			add(noResponders(probe(0)))
			add(&nats.Msg{Subject: probe(1), Data: []byte("taken")})
		}, true, false, true},
		{"a monitor, some unanswered", func(add func(*nats.Msg) (bool, bool)) {
			add(&nats.Msg{Subject: "r.m", Data: []byte("?")})
			add(noResponders(probe(3)))
		}, false, false, true},
		{"answers to another claim", func(add func(*nats.Msg) (bool, bool)) {
			add(&nats.Msg{Subject: "other.1", Data: []byte("taken")})
		}, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tally := NewTally("r", gone)
			var done, keep bool
			tc.answers(func(m *nats.Msg) (bool, bool) {
				if !done {
					done, keep = tally.Add(m)
				}
				return done, keep
			})
			if done != tc.done || done && keep != tc.keep || tally.Monitored() != tc.monitored { // keep means something once done
				t.Errorf("done %v keep %v monitored %v, want %v %v %v", done, keep, tally.Monitored(), tc.done, tc.keep, tc.monitored)
			}
		})
	}
}

// TestOwn checks that a claimer's probes go to the other value of each
// bit: never to its own subjects.
func TestOwn(t *testing.T) {
	const tag = 0xa5f00f5a
	for i := range Bits {
		if own, probed := Own("p", i, tag), Own("p", i, ^uint32(tag)); own == probed {
			t.Fatalf("bit %d: own subject %s is also probed", i, own)
		}
	}
	if got := Own("farpipe.code.7", 2, 4); got != "farpipe.code.7.c.2.1" {
		t.Errorf("Own = %q", got)
	}
}
