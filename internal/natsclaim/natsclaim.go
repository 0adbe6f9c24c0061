// Package natsclaim claims a name on NATS exactly, without locks and
// without timing assumptions on one server: the mechanism by which a short
// code takes its number (relay/code) and a pipe its name (transport/nats).
// docs/codes.md has the argument.
//
// A claimer holding (or claiming) the name subscribes to the Bits subjects
// PREFIX.c.<i>.<bit i of its tag>. To claim, it first subscribes to its
// own, then sends one probe to each PREFIX.c.<i>.<the other value of bit
// i>, with a reply subject: these reach every other claimer of the name
// (its tag differs in some bit) and never the sender. Every claimer answers
// every probe that reaches it "taken" (or "gone" once it is leaving). The
// name is the new claimer's when all Bits probes are answered "no
// responders" (by the server: when it routed the probe, no other claimer
// had that subscription) or "gone". Of two claimers at once, each
// subscribed before it probed, so the server routes the later prober's
// probe to the earlier one: at most one keeps the name. A probe that
// reached only subscribers which are no claimers (a monitor on ">") gets
// no answer: when a monitor is seen (the probe to PREFIX.c.m.m, a subject
// no claimer subscribes to, is not "no responders"), a quiet while without
// a "taken" makes the name the claimer's too.
//
// The messages are the caller's: this package sends its probe as given
// and asks it whether an answer means "gone".
package natsclaim

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
)

// Bits is the number of bits of a claimer's tag that its subjects spell
// out.
const Bits = 32

// Own is the subject of bit i of a claimer with tag: PREFIX.c.<i>.<bit>.
// A claimer subscribes to its Bits own subjects before it probes.
func Own(prefix string, i int, tag uint32) string {
	return fmt.Sprintf("%s.c.%d.%d", prefix, i, tag>>i&1)
}

// Probe publishes the probes of a claim by tag: one to each other value's
// subject, answered on reply.<i>, and the monitor check on PREFIX.c.m.m,
// answered on reply.m. The caller flushes the connection: once the flush
// returns, every "no responders" answer has arrived.
func Probe(nc *nats.Conn, prefix string, tag uint32, reply string, probe []byte) error {
	for i := range Bits {
		m := &nats.Msg{Subject: Own(prefix, i, ^tag), Reply: fmt.Sprintf("%s.%d", reply, i), Data: probe}
		if err := nc.PublishMsg(m); err != nil {
			return err
		}
	}
	return nc.PublishMsg(&nats.Msg{Subject: prefix + ".c.m.m", Reply: reply + ".m", Data: probe})
}

// Tally counts the answers to one claim's probes.
type Tally struct {
	reply     string
	gone      func(data []byte) bool
	free      map[string]bool // probes answered "no responders" or "gone"
	noMonitor bool            // the monitor check was answered "no responders"
}

// NewTally tallies the answers to the probes Probe sent with reply; gone
// says whether an answer's data means its claimer was leaving.
func NewTally(reply string, gone func(data []byte) bool) *Tally {
	return &Tally{reply: reply, gone: gone, free: map[string]bool{}}
}

// Add counts one answer; done reports a decision, keep what it is. An
// answer to another claim (another reply subject) is ignored.
func (t *Tally) Add(m *nats.Msg) (done, keep bool) {
	if !strings.HasPrefix(m.Subject, t.reply+".") {
		return false, false
	}
	free := len(m.Data) == 0 && m.Header.Get("Status") == "503" || t.gone(m.Data)
	switch {
	case m.Subject == t.reply+".m":
		t.noMonitor = free
		return false, false
	case !free:
		return true, false // another claimer answered: the name is taken
	}
	t.free[m.Subject] = true
	return len(t.free) == Bits, true
}

// Monitored reports whether a subscriber that is no claimer received the
// monitor check; only meaningful after the flush.
func (t *Tally) Monitored() bool { return !t.noMonitor }
