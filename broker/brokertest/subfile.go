package brokertest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/farpipe/farpipe/broker"
)

// errStop is the crash a stopper simulates.
var errStop = errors.New("brokertest: stopped")

// stopper is a SubFile that stops Sub at its n-th Save, before saving or
// after (before the acknowledgements): a subscriber killed there, as far
// as the broker can tell.
type stopper struct {
	*broker.SubFile
	n     int
	after bool
}

func (s *stopper) Save(w broker.Written) error {
	s.n--
	if s.n == 0 && !s.after {
		return errStop
	}
	if err := s.SubFile.Save(w); err != nil {
		return err
	}
	if s.n == 0 {
		return errStop
	}
	return nil
}

// testSubFile: two publishers at once, one of records longer than a
// message (pieces that the other's messages come between); a durable
// subscriber writing to a SubFile is stopped again and again before and
// after its checkpoint, each time without acknowledging what it wrote
// last, and started again: the file holds what one uninterrupted Sub
// writes, exactly.
func testSubFile(t *testing.T, h Harness) {
	s := open(t, h, broker.StreamConfig{})
	ins := map[string][]byte{"long": Lines("long", 60, 2500), "short": Lines("short", 3000, 40)}
	var wg sync.WaitGroup
	errs := make(chan error, len(ins))
	for id, in := range ins {
		wg.Go(func() {
			_, err := broker.Pub(ctxFor(t), s, bytes.NewReader(in), broker.PubConfig{ID: id, MaxMessage: 1000, MaxInFlight: 4})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Pub: %v", err)
		}
	}
	want := sub(t, s, broker.SubOptions{})
	if len(want) != len(ins["long"])+len(ins["short"]) {
		t.Fatalf("an uninterrupted sub wrote %d bytes, want %d", len(want), len(ins["long"])+len(ins["short"]))
	}
	path := filepath.Join(t.TempDir(), "out")
	o := broker.SubOptions{SubConfig: broker.SubConfig{Durable: "f", MaxPending: 16}}
	stops, again := 0, uint64(0)
	for run := 0; ; run++ {
		if run > 200 {
			t.Fatalf("no run of the subscriber reached the end in 200")
		}
		sf, err := broker.OpenSubFile(path, broker.SubFileConfig{Stream: "brokertest", Durable: "f"})
		if err != nil {
			t.Fatal(err)
		}
		st := &stopper{SubFile: sf, n: 1 + run*5%17, after: run%2 == 1}
		o.Checkpoint = st
		stats, err := broker.Sub(ctxFor(t), s, st, o)
		sf.Close()
		again += stats.Again
		if err == nil {
			break
		}
		if !errors.Is(err, errStop) {
			t.Fatalf("run %d: Sub: %v", run, err)
		}
		stops++
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("after %d stops the file holds %d bytes, want the %d of one uninterrupted sub", stops, len(got), len(want))
	}
	if again == 0 {
		t.Error("no message was delivered again after a stop: the test tests little")
	}
	t.Logf("%d bytes through %d stops; %d messages delivered again and skipped", len(got), stops, again)
}
