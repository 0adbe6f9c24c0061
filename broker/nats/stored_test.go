package nats_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/farpipe/farpipe/broker"
)

// TestStoredAfter: a publisher lists its own messages stored after a
// position (ids and positions, in order, at most limit+1), not another
// publisher's: what Pub reads when confirmations were lost.
func TestStoredAfter(t *testing.T) {
	r := startRelay(t)
	ctx := context.Background()
	s, err := broker.Open(ctx, r.ClientURL()+"/stored", broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pubs := map[string]broker.Publisher{}
	for _, id := range []string{"p", "q"} {
		p, err := s.Publisher(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pubs[id] = p
	}
	// p, q, p, p: positions 1 to 4.
	var pos []uint64
	for i, id := range []string{"p", "q", "p", "p"} {
		done := make(chan error, 1)
		m := broker.Message{ID: fmt.Sprintf("%s-%d-0", id, i), Publisher: id, Data: []byte{byte(i)}}
		if err := pubs[id].Publish(ctx, m, 0, func(p uint64, err error) { pos = append(pos, p); done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	lister, ok := pubs["p"].(broker.StoredLister)
	if !ok {
		t.Fatal("the nats publisher is not a broker.StoredLister")
	}
	for _, tc := range []struct {
		after uint64
		limit int
		want  string
	}{
		{0, 10, "[{p-0-0 1} {p-2-0 3} {p-3-0 4}]"},
		{1, 10, "[{p-2-0 3} {p-3-0 4}]"},
		{0, 1, "[{p-0-0 1} {p-2-0 3}]"}, // limit+1: more than limit
		{4, 10, "[]"},
	} {
		got, err := lister.StoredAfter(ctx, tc.after, tc.limit)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("StoredAfter(%d, %d) = %v, %v; want %s", tc.after, tc.limit, got, err, tc.want)
		}
	}
	if fmt.Sprint(pos) != "[1 2 3 4]" {
		t.Errorf("stored at %v, want 1 to 4", pos)
	}
}
