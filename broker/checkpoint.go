package broker

import (
	"maps"
	"slices"
)

// Written says which messages of a stream a subscriber has written out:
// every position up to High except those in Holes. A hole is a message
// that was delivered and whose records were not written yet: a piece of
// a record waiting for its last piece, while other publishers' messages
// after it were written. Positions up to High that were never delivered
// (a broker delivers each message first in stream order) never come.
type Written struct {
	High  uint64   `json:"high"`
	Holes []uint64 `json:"holes,omitempty"` // increasing, each at most High
}

// Has reports whether the message at pos was written.
func (w Written) Has(pos uint64) bool {
	if pos > w.High {
		return false
	}
	_, hole := slices.BinarySearch(w.Holes, pos)
	return !hole
}

// Checkpoint keeps, beside an output that can be cut back (a file), which
// messages a subscriber wrote: Sub calls Save after the records of
// messages were written and flushed to the output and before it
// acknowledges them, so that a subscriber killed at any point and started
// again writes every record exactly once (SubFile).
type Checkpoint interface {
	// Written is what was written before Sub started: Sub skips (and
	// acknowledges) those messages when they are delivered again.
	Written() Written
	// Save records that the output now holds w (and what was written
	// since the last Save). An error stops Sub.
	Save(w Written) error
}

// done is the reader's Written as it goes.
type done struct {
	high  uint64
	holes map[uint64]struct{}
}

func newDone(w Written) *done {
	d := &done{high: w.High, holes: make(map[uint64]struct{}, len(w.Holes))}
	for _, h := range w.Holes {
		d.holes[h] = struct{}{}
	}
	return d
}

// has reports whether the message at pos was written.
func (d *done) has(pos uint64) bool {
	_, hole := d.holes[pos]
	return pos <= d.high && !hole
}

// take notes the message at pos as delivered and not yet written.
func (d *done) take(pos uint64) {
	d.high = max(d.high, pos)
	d.holes[pos] = struct{}{}
}

// put notes the message at pos as written (or as holding nothing to write).
func (d *done) put(pos uint64) {
	d.high = max(d.high, pos)
	delete(d.holes, pos)
}

func (d *done) written() Written {
	return Written{High: d.high, Holes: slices.Sorted(maps.Keys(d.holes))}
}
