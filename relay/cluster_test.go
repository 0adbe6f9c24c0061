package relay

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// waitFor polls cond (the state of servers, which tell no event) until it
// holds, and fails after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after a minute", what)
		}
		<-tick.C
	}
}

// startCluster starts n relays on loopback, each routed to the first, and
// waits until every one has a route to every other.
func startCluster(t *testing.T, n int, secret string) []*Server {
	t.Helper()
	relays := []*Server{startRelay(t, Config{Cluster: "127.0.0.1:0", ClusterSecret: secret})}
	for i := 1; i < n; i++ {
		relays = append(relays, startRelay(t, Config{Cluster: "127.0.0.1:0", ClusterSecret: secret,
			Routes: []string{relays[0].ClusterURL()}}))
	}
	for _, r := range relays {
		waitFor(t, "a full mesh of routes", func() bool { return r.NATS().NumRemotes() >= n-1 })
	}
	return relays
}

// waitInterest waits until relay r knows of a subscription to subject
// somewhere in the cluster.
func waitInterest(t *testing.T, r *Server, subject string) {
	t.Helper()
	waitFor(t, "interest in "+subject+" to reach "+r.Name(), func() bool {
		return r.NATS().GlobalAccount().SubscriptionInterest(subject)
	})
}

func TestCluster(t *testing.T) {
	for _, tt := range []struct {
		name, secret string
	}{
		{"open routes", ""},
		{"cluster secret", "route-s3cret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			relays := startCluster(t, 3, tt.secret)
			sub := connect(t, relays[0].ClientURL())
			pub := connect(t, relays[2].ClientURL())
			s, err := sub.SubscribeSync("across")
			if err != nil {
				t.Fatal(err)
			}
			if err := sub.Flush(); err != nil {
				t.Fatal(err)
			}
			waitInterest(t, relays[2], "across")
			if err := pub.Publish("across", []byte("from relay 3")); err != nil {
				t.Fatal(err)
			}
			m, err := s.NextMsg(10 * time.Second)
			if err != nil || string(m.Data) != "from relay 3" {
				t.Fatalf("the subscriber on relay 1 got %v, %v", m, err)
			}
		})
	}
}

// TestClusterRouteSecret: a relay without the cluster's secret does not
// join it.
func TestClusterRouteSecret(t *testing.T) {
	refused := &lineWatch{substr: "authentication error", seen: make(chan struct{})}
	first := startRelay(t, Config{Cluster: "127.0.0.1:0", ClusterSecret: "right", Log: refused})
	intruder := startRelay(t, Config{Cluster: "127.0.0.1:0", ClusterSecret: "wrong", Routes: []string{first.ClusterURL()}})
	nc := connect(t, intruder.ClientURL())
	if _, err := nc.SubscribeSync("leak"); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-refused.seen:
	case <-time.After(time.Minute):
		t.Fatal("the relay did not refuse a route without the secret within a minute")
	}
	joined := startRelay(t, Config{Cluster: "127.0.0.1:0", ClusterSecret: "right", Routes: []string{first.ClusterURL()}})
	waitFor(t, "the relay with the secret to join", func() bool {
		return joined.NATS().NumRemotes() == 1 && first.NATS().NumRemotes() >= 1
	})
	if n := intruder.NATS().NumRemotes(); n != 0 {
		t.Fatalf("the relay without the secret has %d routes", n)
	}
	if first.NATS().GlobalAccount().SubscriptionInterest("leak") {
		t.Fatal("the intruder's subscription reached the cluster")
	}
}

// lineWatch is a Config.Log that closes seen at the first line holding
// substr.
type lineWatch struct {
	substr string
	once   sync.Once
	seen   chan struct{}
}

func (w *lineWatch) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.substr) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// TestClusterMemberStops: a client that learned the cluster's servers from
// its relay reconnects to another when that relay shuts down.
func TestClusterMemberStops(t *testing.T) {
	relays := startCluster(t, 3, "")
	reconnected := make(chan string, 1)
	nc := connect(t, relays[0].ClientURL(),
		nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond),
		nats.ReconnectHandler(func(c *nats.Conn) {
			select {
			case reconnected <- c.ConnectedUrl():
			default:
			}
		}))
	waitFor(t, "the client to learn the other relays", func() bool { return len(nc.DiscoveredServers()) >= 2 })
	stop(t, relays[0])
	select {
	case u := <-reconnected:
		if u == relays[0].ClientURL() || !strings.HasPrefix(u, "nats://127.0.0.1:") {
			t.Fatalf("reconnected to %q", u)
		}
	case <-time.After(time.Minute):
		t.Fatal("the client did not reconnect to another relay within a minute")
	}
	other := connect(t, nc.ConnectedUrl())
	exchange(t, nc, other, "after.stop")
}
