package nats

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/farpipe/farpipe/broker"
	"github.com/farpipe/farpipe/broker/brokertest"
)

// TestDepthAndLag: the queue's Depth counts the items no worker took yet,
// and a delivery's Pending the messages the subscriber has still to get
// (the numbers of farpipe_queue_depth_chunks and farpipe_sub_lag_messages).
func TestDepthAndLag(t *testing.T) {
	queueLeaks(t)
	url := queueRelay(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	prod, work := openQueue(t, url+"/depth", 0), openQueue(t, url+"/depth", 0)
	sub := brokertest.Submit(t, ctx, prod)
	defer sub.Close()
	for i := range 3 {
		if err := sub.Put(ctx, broker.WorkItem{ID: fmt.Sprint(i), Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	depth := work.(interface {
		Depth(context.Context) (uint64, error)
	})
	if n, err := depth.Depth(ctx); n != 3 || err != nil {
		t.Errorf("Depth = %d, %v with 3 items waiting, want 3", n, err)
	}
	w, err := work.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := depth.Depth(ctx); n != 2 || err != nil {
		t.Errorf("Depth = %d, %v after a take, want 2", n, err)
	}
	if err := w.Finish(ctx, broker.WorkStatus{}); err != nil {
		t.Fatal(err)
	}

	s, err := broker.Open(ctx, url+"/lag", broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := bytes.Repeat([]byte("a record of the stream\n"), 40)
	st, err := broker.Pub(ctx, s, bytes.NewReader(in), broker.PubConfig{MaxMessage: 100})
	if err != nil || st.Messages < 5 {
		t.Fatalf("Pub = %+v, %v; want several messages", st, err)
	}
	var pending []uint64
	var out bytes.Buffer
	if _, err := broker.Sub(ctx, s, &out, broker.SubOptions{Progress: func(_ broker.SubStats, p uint64) { pending = append(pending, p) }}); err != nil {
		t.Fatal(err)
	}
	if uint64(len(pending)) != st.Messages || pending[0] != st.Messages-1 || pending[len(pending)-1] != 0 {
		t.Errorf("pending per message %v, want %d down to 0", pending, st.Messages-1)
	}
}
