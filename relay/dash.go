package relay

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The relay's page (Config.HTTP) shows what flows through the relay. Its
// data is the embedded server's own monitoring, read in-process once a
// second (Connz with the subscriptions of every client, Jsz with every
// stream and consumer): the relay never subscribes to a pipe's messages.
// A tracker turns each sample into a Snapshot; it keeps from one sample to
// the next what rates, byte counts and resumes need.

// Snapshot is what the page shows at one moment; /events streams it as
// JSON.
type Snapshot struct {
	Time    time.Time    `json:"time"`
	Server  string       `json:"server"`
	Clients int          `json:"clients"` // NATS client connections
	Pipes   []PipeInfo   `json:"pipes"`
	Streams []StreamInfo `json:"streams"`
	Queues  []QueueInfo  `json:"queues"`
}

// PipeInfo is a pipe name on the relay: its ends and what they sent.
type PipeInfo struct {
	Name string    `json:"name"`
	Ends []EndInfo `json:"ends"`
	// Bytes is what the ends published for this pipe through the relay
	// since the page first saw it (the session's bytes in both
	// directions, TLS and framing included); Rate is bytes per second over
	// the last sample.
	Bytes int64   `json:"bytes"`
	Rate  float64 `json:"rate"`
	// Resumes counts connections to the name beyond the most open at once:
	// each reconnection of an end at the same name.
	Resumes int `json:"resumes"`
	// Approx is set when an end's NATS connection carries other pipes too:
	// its bytes are then split among them by their message counts.
	Approx bool `json:"approx,omitempty"`
}

// EndInfo is one end of a pipe as NATS sees it: a client connection.
type EndInfo struct {
	Role  string `json:"role"` // "listen" (waits at the name) or "dial"
	Addr  string `json:"addr"` // the client's address, host:port
	Name  string `json:"name,omitempty"`
	Cid   uint64 `json:"cid"`
	Conns int    `json:"conns"` // farpipe connections of this end at the name
}

// StreamInfo is a JetStream stream (farpipe pub and sub).
type StreamInfo struct {
	Name        string           `json:"name"`
	Records     uint64           `json:"records"`
	Bytes       uint64           `json:"bytes"`
	Rate        float64          `json:"rate"`       // bytes stored per second
	Publishers  int              `json:"publishers"` // publisher ids with records (subjects)
	Subscribers []SubscriberInfo `json:"subscribers"`
}

// SubscriberInfo is a consumer of a stream.
type SubscriberInfo struct {
	Name       string `json:"name"`
	Durable    bool   `json:"durable"`
	Lag        uint64 `json:"lag"` // records not yet delivered (num_pending)
	AckPending int    `json:"ack_pending"`
	Active     bool   `json:"active"` // a pull waits or a push subscriber is bound
}

// QueueInfo is a work queue (map --via and worker): the streams
// FARPIPE_WORK_NAME and FARPIPE_RESULT_NAME.
type QueueInfo struct {
	Name string `json:"name"`
	// Depth is the chunks waiting for a worker; InFlight the chunks taken
	// and not yet done (ack pending); Redeliveries the chunks given again
	// after a worker failed or went quiet.
	Depth        uint64 `json:"depth"`
	InFlight     int    `json:"in_flight"`
	Redeliveries int    `json:"redeliveries"`
	// Workers is the worker slots attached: pulls waiting for a chunk plus
	// chunks in flight (NATS does not tell which client pulls).
	Workers int    `json:"workers"`
	Results uint64 `json:"results"` // results stored, not yet collected
}

// Subjects and stream names the page recognizes; they follow
// transport/nats and broker/nats.
const (
	pipeSubject  = "farpipe.pipe."
	inboxMarker  = "fp" // _INBOX.<unique>.fp.<d|l>.NAME
	workPrefix   = "FARPIPE_WORK_"
	resultPrefix = "FARPIPE_RESULT_"
	workersName  = "workers"
	forgetAfter  = time.Minute // how long a pipe's history outlives its ends
)

// tracker keeps, between samples, what a snapshot needs from the last one.
type tracker struct {
	last    time.Time
	conns   map[uint64]connHist
	pipes   map[string]*pipeHist
	streams map[string]streamHist
}

type connHist struct {
	inBytes int64
	msgs    map[string]int64 // pipe name -> messages delivered to its inboxes
}

type pipeHist struct {
	bytes, prevBytes int64
	inboxes          map[string]bool // dial inboxes open at the last sample
	seen, peak       int             // dial inboxes ever seen; most open at once
	lastSeen         time.Time
}

type streamHist struct{ bytes uint64 }

func newTracker() *tracker {
	return &tracker{conns: map[uint64]connHist{}, pipes: map[string]*pipeHist{}, streams: map[string]streamHist{}}
}

// pipeSub is a subscription of a client that belongs to a pipe.
type pipeSub struct {
	name, role string // role: "listen" or "dial"
	inbox      string // empty for the name's own subject
	msgs       int64
}

// parsePipeSub tells which pipe a subscription belongs to, if any.
func parsePipeSub(subject string, msgs int64) (pipeSub, bool) {
	if name, ok := strings.CutPrefix(subject, pipeSubject); ok && validName(name) {
		return pipeSub{name: name, role: "listen", msgs: msgs}, true
	}
	t := strings.Split(subject, ".")
	n := len(t)
	if n < 5 || t[0] != "_INBOX" || t[n-3] != inboxMarker || !validName(t[n-1]) {
		return pipeSub{}, false
	}
	switch t[n-2] {
	case "d":
		return pipeSub{name: t[n-1], role: "dial", inbox: subject, msgs: msgs}, true
	case "l":
		return pipeSub{name: t[n-1], role: "listen", inbox: subject, msgs: msgs}, true
	}
	return pipeSub{}, false
}

// validName reports whether s is a pipe name: letters, digits, '-', '_',
// at most 64 bytes (transport/nats's rule).
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// snapshot turns one sample of the server's monitoring into a Snapshot and
// remembers what the next one needs. cz must list the subscriptions of
// each connection (SubscriptionsDetail); js may be nil (no JetStream).
func (t *tracker) snapshot(now time.Time, server string, cz *server.Connz, js *server.JSInfo) Snapshot {
	snap := Snapshot{Time: now, Server: server, Pipes: []PipeInfo{}, Streams: []StreamInfo{}, Queues: []QueueInfo{}}
	dt := now.Sub(t.last).Seconds()
	if t.last.IsZero() || dt <= 0 {
		dt = 0
	}
	if cz != nil {
		snap.Clients = len(cz.Conns)
		snap.Pipes = t.pipes2(now, dt, cz.Conns)
	}
	if js != nil {
		snap.Streams, snap.Queues = t.streams2(dt, js)
	}
	t.last = now
	return snap
}

// endKey is one end of one pipe on one client connection.
type endKey struct{ name, role string }

// pipes2 groups the clients' subscriptions by pipe name and counts bytes.
func (t *tracker) pipes2(now time.Time, dt float64, conns []*server.ConnInfo) []PipeInfo {
	pipes := map[string]*PipeInfo{}
	dialInboxes := map[string]map[string]bool{}
	seenConns := map[uint64]connHist{}
	for _, c := range conns {
		ends := map[endKey]*EndInfo{}
		var order []endKey
		msgs := map[string]int64{} // pipe name -> messages delivered to its subscriptions
		for _, sd := range c.SubsDetail {
			ps, ok := parsePipeSub(sd.Subject, sd.Msgs)
			if !ok {
				continue
			}
			if pipes[ps.name] == nil {
				pipes[ps.name] = &PipeInfo{Name: ps.name, Ends: []EndInfo{}}
			}
			msgs[ps.name] += ps.msgs
			k := endKey{ps.name, ps.role}
			e := ends[k]
			if e == nil {
				e = &EndInfo{Role: ps.role, Addr: net.JoinHostPort(c.IP, strconv.Itoa(c.Port)), Name: c.Name, Cid: c.Cid}
				ends[k] = e
				order = append(order, k)
			}
			if ps.inbox == "" {
				continue
			}
			e.Conns++
			if ps.role == "dial" {
				if dialInboxes[ps.name] == nil {
					dialInboxes[ps.name] = map[string]bool{}
				}
				dialInboxes[ps.name][ps.inbox] = true
			}
		}
		for _, k := range order {
			pipes[k.name].Ends = append(pipes[k.name].Ends, *ends[k])
		}
		if len(msgs) == 0 {
			continue
		}
		t.attribute(now, c, msgs, pipes)
		seenConns[c.Cid] = connHist{inBytes: c.InBytes, msgs: msgs}
	}
	t.conns = seenConns
	return t.finishPipes(now, dt, pipes, dialInboxes)
}

// pipe returns the history of the pipe name, making it if needed.
func (t *tracker) pipe(name string) *pipeHist {
	ph := t.pipes[name]
	if ph == nil {
		ph = &pipeHist{inboxes: map[string]bool{}}
		t.pipes[name] = ph
	}
	return ph
}

// attribute adds to the pipes of the connection c the bytes c published
// since the last sample: all of them when c carries one pipe, else split by
// the messages each pipe's subscriptions on c received meanwhile.
func (t *tracker) attribute(now time.Time, c *server.ConnInfo, msgs map[string]int64, pipes map[string]*PipeInfo) {
	prev, known := t.conns[c.Cid]
	delta := c.InBytes
	weights := map[string]int64{}
	var total int64
	for name, m := range msgs {
		w := m
		if known && m >= prev.msgs[name] {
			w = m - prev.msgs[name]
		}
		weights[name] = w
		total += w
	}
	if known {
		delta = c.InBytes - prev.inBytes
	}
	if delta < 0 {
		delta = 0
	}
	names := make([]string, 0, len(msgs))
	for name := range msgs {
		names = append(names, name)
	}
	slices.Sort(names)
	left := delta
	for i, name := range names {
		share := delta / int64(len(names))
		if total > 0 {
			share = int64(float64(delta) * float64(weights[name]) / float64(total))
		}
		if i == len(names)-1 {
			share = left // what rounding left goes to the last
		}
		left -= share
		t.pipe(name).bytes += share
		if len(names) > 1 {
			pipes[name].Approx = true
		}
	}
}

// finishPipes fills in the byte counts, rates and resumes of the pipes
// seen in this sample, and forgets the pipes gone for forgetAfter.
func (t *tracker) finishPipes(now time.Time, dt float64, pipes map[string]*PipeInfo, dialInboxes map[string]map[string]bool) []PipeInfo {
	out := make([]PipeInfo, 0, len(pipes))
	for name, p := range pipes {
		ph := t.pipe(name)
		cur := dialInboxes[name]
		for inbox := range cur {
			if !ph.inboxes[inbox] {
				ph.seen++
			}
		}
		ph.inboxes = cur
		ph.peak = max(ph.peak, len(cur))
		ph.lastSeen = now
		p.Resumes = max(ph.seen-ph.peak, 0)
		p.Bytes = ph.bytes
		if dt > 0 {
			p.Rate = float64(ph.bytes-ph.prevBytes) / dt
		}
		ph.prevBytes = ph.bytes
		slices.SortFunc(p.Ends, func(a, b EndInfo) int {
			if a.Role != b.Role {
				return strings.Compare(b.Role, a.Role) // listen first
			}
			return strings.Compare(a.Addr, b.Addr)
		})
		out = append(out, *p)
	}
	for name, ph := range t.pipes {
		if pipes[name] == nil {
			ph.inboxes = nil
			if now.Sub(ph.lastSeen) > forgetAfter {
				delete(t.pipes, name)
			}
		}
	}
	slices.SortFunc(out, func(a, b PipeInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// streams2 sorts JetStream's streams into farpipe's streams and queues.
func (t *tracker) streams2(dt float64, js *server.JSInfo) ([]StreamInfo, []QueueInfo) {
	streams := []StreamInfo{}
	queues := map[string]*QueueInfo{}
	queue := func(name string) *QueueInfo {
		if queues[name] == nil {
			queues[name] = &QueueInfo{Name: name}
		}
		return queues[name]
	}
	seen := map[string]streamHist{}
	for _, acc := range js.AccountDetails {
		if acc == nil {
			continue
		}
		for _, sd := range acc.Streams {
			switch {
			case strings.HasPrefix(sd.Name, workPrefix):
				q := queue(sd.Name[len(workPrefix):])
				q.Depth = sd.State.Msgs
				for _, ci := range sd.Consumer {
					if ci != nil && ci.Name == workersName {
						q.Depth = ci.NumPending
						q.InFlight, q.Redeliveries = ci.NumAckPending, ci.NumRedelivered
						q.Workers = ci.NumWaiting + ci.NumAckPending
					}
				}
			case strings.HasPrefix(sd.Name, resultPrefix):
				queue(sd.Name[len(resultPrefix):]).Results = sd.State.Msgs
			default:
				st := StreamInfo{Name: sd.Name, Records: sd.State.Msgs, Bytes: sd.State.Bytes,
					Publishers: sd.State.NumSubjects, Subscribers: []SubscriberInfo{}}
				if prev, ok := t.streams[sd.Name]; ok && dt > 0 && st.Bytes >= prev.bytes {
					st.Rate = float64(st.Bytes-prev.bytes) / dt
				}
				seen[sd.Name] = streamHist{bytes: st.Bytes}
				for _, ci := range sd.Consumer {
					if ci == nil {
						continue
					}
					durable := ci.Config != nil && ci.Config.Durable != ""
					st.Subscribers = append(st.Subscribers, SubscriberInfo{Name: ci.Name, Durable: durable,
						Lag: ci.NumPending, AckPending: ci.NumAckPending, Active: ci.NumWaiting > 0 || ci.PushBound})
				}
				slices.SortFunc(st.Subscribers, func(a, b SubscriberInfo) int { return strings.Compare(a.Name, b.Name) })
				streams = append(streams, st)
			}
		}
	}
	t.streams = seen
	out := make([]QueueInfo, 0, len(queues))
	for _, q := range queues {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(streams, func(a, b StreamInfo) int { return strings.Compare(a.Name, b.Name) })
	return streams, out
}
