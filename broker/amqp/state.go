package amqp

import (
	"encoding/binary"
	"errors"

	"github.com/farpipe/farpipe/broker"
)

// A durable subscriber's state, kept as the one message of its state
// queue (QUEUE.farpipe-sub.NAME, x-max-length 1: a new state pushes the
// old one out):
//
//	version  1 byte, stateVersion
//	floor    uvarint: the offset to go on from (every message before it
//	         was written out or skipped)
//	n        uvarint: the number of publishers that follow
//	each     uvarint length, the publisher's id, then uvarints rec, off
//	         (the last record written: its index and piece offset) and at
//	         (the offset of its message)
//
// The marks let a restarted subscriber skip a message that a publisher
// sent twice (once before a lost connection, again after it) when the
// second copy is after floor.
const stateVersion = 1

// maxMarks bounds the publishers a subscriber remembers: those of the
// latest messages.
const maxMarks = 1024

// key orders a publisher's messages: its record index, then the offset
// of a piece in its record.
type key struct{ rec, off uint64 }

func (k key) less(o key) bool { return k.rec < o.rec || k.rec == o.rec && k.off < o.off }

// mark is the last message of a publisher that a subscriber took.
type mark struct {
	key
	at int64 // its offset in the stream
}

type state struct {
	floor int64
	marks map[string]mark
}

var errState = errors.New("farpipe: a durable subscriber's state is damaged")

// encode appends s to b.
func (s state) encode(b []byte) []byte {
	b = append(b, stateVersion)
	b = binary.AppendUvarint(b, uint64(s.floor))
	b = binary.AppendUvarint(b, uint64(len(s.marks)))
	for id, m := range s.marks {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, m.rec)
		b = binary.AppendUvarint(b, m.off)
		b = binary.AppendUvarint(b, uint64(m.at))
	}
	return b
}

// decodeState reads a state; it never panics (the bytes come from the
// network).
func decodeState(b []byte) (state, error) {
	s := state{marks: map[string]mark{}}
	if len(b) < 1 || b[0] != stateVersion {
		return s, errState
	}
	b = b[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	floor, ok := next()
	if !ok || floor > 1<<62 {
		return s, errState
	}
	s.floor = int64(floor)
	n, ok := next()
	if !ok || n > maxMarks {
		return s, errState
	}
	for range n {
		l, ok := next()
		if !ok || l > uint64(len(b)) {
			return s, errState
		}
		id := string(b[:l])
		b = b[l:]
		if broker.CheckID("publisher id", id) != nil {
			return s, errState
		}
		var m mark
		var at uint64
		if m.rec, ok = next(); !ok {
			return s, errState
		}
		if m.off, ok = next(); !ok {
			return s, errState
		}
		if at, ok = next(); !ok || at > 1<<62 {
			return s, errState
		}
		m.at = int64(at)
		s.marks[id] = m
	}
	if len(b) != 0 {
		return s, errState
	}
	return s, nil
}

// setMark records m as publisher id's last message, forgetting the
// publisher whose last message is oldest when there are too many.
func setMark(marks map[string]mark, id string, m mark) {
	if _, ok := marks[id]; !ok && len(marks) >= maxMarks {
		var oldest string
		for k, v := range marks {
			if oldest == "" || v.at < marks[oldest].at {
				oldest = k
			}
		}
		delete(marks, oldest)
	}
	marks[id] = m
}
