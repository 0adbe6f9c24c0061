package relay

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults of a Config's empty fields.
const (
	DefaultListen      = ":4222"   // NATS's own client port, on every interface
	DefaultClusterName = "farpipe" // every relay of one cluster must use the same name
	// ClusterUser is the user name the relays of a cluster present to each
	// other when Config.ClusterSecret is set.
	ClusterUser = "farpipe-route"
	// MaxPayloadLimit is the largest Config.MaxPayload: NATS refuses more.
	MaxPayloadLimit = 64 << 20
)

// ErrBadConfig is matched (errors.Is) by the errors of Start that come from
// the Config itself: a malformed address or route, contradictory options.
var ErrBadConfig = errors.New("farpipe: bad relay configuration")

// ErrStoreInUse is matched by the error of Start when another relay (of
// this host) runs on the same store directory.
var ErrStoreInUse = errors.New("farpipe: another relay uses this store")

// lockName is the lock file in the store directory, held while a relay
// runs on it.
const lockName = "farpipe-relay.lock"

// Config is what a relay runs with. The zero Config is a relay on :4222
// with JetStream in DefaultStoreDir(), no WebSocket, no cluster and no
// authentication.
type Config struct {
	// Listen is the address of the NATS client listener, host:port.
	// Empty means DefaultListen; port 0 picks a free port (ClientURL
	// tells which).
	Listen string
	// StoreDir is the directory of JetStream's store (NATS keeps it in its
	// "jetstream" subdirectory); it is created if missing. Empty means
	// DefaultStoreDir(). A relay locks it (on Unix): a second relay on the
	// same store fails with ErrStoreInUse.
	StoreDir string

	// WebSocket, when set, is the address (host:port, port 0 for a free
	// one) of a second client listener that speaks NATS over WebSocket,
	// for networks that only let HTTP(S) out. Without WebSocketTLSCert and
	// WebSocketTLSKey it is plain ws://: put it behind a TLS reverse proxy
	// or on loopback.
	WebSocket                         string
	WebSocketTLSCert, WebSocketTLSKey string // PEM files: the listener is wss://

	// Cluster, when set, is the address (host:port, port 0 for a free
	// one) of the route listener, where the other relays of a cluster
	// connect. Routes are the cluster URLs of other relays (nats://host:port,
	// as ClusterURL prints them); each relay needs at least one other, the
	// cluster then finds the rest. ClusterName must be the same on every
	// relay of a cluster; empty means DefaultClusterName.
	Cluster     string
	Routes      []string
	ClusterName string
	// ClusterSecret, when set, is required from every relay that connects
	// to the route listener, and presented to the Routes (as user
	// ClusterUser); every relay of the cluster must have the same one.
	// Without it anyone who reaches the route listener can join the cluster.
	ClusterSecret string

	// Name is the server's name within a cluster, unique and stable across
	// restarts (JetStream knows its peers by name). Empty means
	// "HOSTNAME-PORT", with a random suffix instead of the port for port 0.
	Name string

	// Token, or User and Password, are required from every client (NATS
	// authentication, in the CONNECT message: in clear text on a plain
	// connection). At most one of the two may be set.
	Token          string
	User, Password string

	// MaxPayload is the largest message a client may publish, in bytes;
	// 0 means NATS's default, 1 MiB. At most MaxPayloadLimit.
	MaxPayload int
	// MaxConnections limits the clients connected at once; 0 means NATS's
	// default, 65536.
	MaxConnections int

	// MaxStore and MaxMemory bound what JetStream keeps on disk and in
	// memory, in bytes; 0 means NATS's defaults (75% of the store's free
	// disk space and of the memory).
	MaxStore, MaxMemory int64

	// HTTP, when set, is the address (host:port, port 0 for a free one) of
	// the relay's page: a live view of its pipes, streams and queues
	// (docs/relay.md). Clients on loopback need nothing; others need
	// HTTPToken, else Token, else a random token that HTTPLoginURL and the
	// ready line carry.
	HTTP      string
	HTTPToken string

	// Log, when set, receives the server's notices, warnings and errors,
	// one line each starting "farpipe: relay: ". Nil means quiet.
	Log io.Writer
}

// defaultName is the server's name when Config.Name is empty: the host's
// name and the port, or a random suffix for a random port. JetStream in a
// cluster needs a name, the same across restarts.
func defaultName(port int) string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \t\n") {
		h = "farpipe-relay"
	}
	if port > 0 {
		return fmt.Sprintf("%s-%d", h, port)
	}
	return fmt.Sprintf("%s-%x", h, rand.Uint64())
}

// DefaultStoreDir returns the default JetStream store:
// $XDG_STATE_HOME/farpipe/relay, or ~/.local/state/farpipe/relay when
// XDG_STATE_HOME is not an absolute path.
func DefaultStoreDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "farpipe", "relay"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("farpipe: no directory for the relay's store (%v): give one with --store", err)
	}
	return filepath.Join(home, ".local", "state", "farpipe", "relay"), nil
}

func badConfig(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
}

// hostPort splits addr for NATS: port 0 becomes server.RANDOM_PORT.
func hostPort(what, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, badConfig("%s %q is not host:port (for example :4222 or 127.0.0.1:4222)", what, addr)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, badConfig("%s %q: the port must be a number from 0 to 65535", what, addr)
	}
	if port == 0 {
		return host, server.RANDOM_PORT, nil
	}
	return host, int(port), nil
}

// options turns c into the server's options. storeDir is the store to use.
func (c *Config) options(storeDir string) (*server.Options, error) {
	listen := c.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, port, err := hostPort("--listen", listen)
	if err != nil {
		return nil, err
	}
	o := &server.Options{
		Host:                   host,
		Port:                   port,
		ServerName:             c.Name,
		NoSigs:                 true, // the program owns the signals
		JetStream:              true,
		StoreDir:               storeDir,
		DisableJetStreamBanner: true,
		MaxConn:                c.MaxConnections,
	}
	if o.ServerName == "" {
		o.ServerName = defaultName(port)
	}
	if strings.ContainsAny(o.ServerName, " \t\n") {
		return nil, badConfig("--name %q: a server name has no spaces", o.ServerName)
	}
	switch {
	case c.MaxPayload < 0 || c.MaxPayload > MaxPayloadLimit:
		return nil, badConfig("--max-payload %d: give 1 byte to %d MiB (NATS's limit)", c.MaxPayload, MaxPayloadLimit>>20)
	case c.MaxConnections < 0:
		return nil, badConfig("--max-connections %d: give a positive number", c.MaxConnections)
	case c.MaxStore < 0 || c.MaxMemory < 0:
		return nil, badConfig("a negative JetStream limit: give a size, or 0 for NATS's default")
	}
	o.JetStreamMaxStore, o.JetStreamMaxMemory = c.MaxStore, c.MaxMemory
	o.MaxPayload = int32(c.MaxPayload)
	if err := c.authOptions(o); err != nil {
		return nil, err
	}
	if err := c.websocketOptions(o); err != nil {
		return nil, err
	}
	if err := c.clusterOptions(o); err != nil {
		return nil, err
	}
	return o, nil
}

func (c *Config) authOptions(o *server.Options) error {
	switch {
	case c.Token != "" && (c.User != "" || c.Password != ""):
		return badConfig("give either a token or a user and password, not both")
	case (c.User == "") != (c.Password == ""):
		return badConfig("a user needs a password and a password a user: give both")
	}
	o.Authorization, o.Username, o.Password = c.Token, c.User, c.Password
	return nil
}

func (c *Config) websocketOptions(o *server.Options) error {
	if c.WebSocket == "" {
		if c.WebSocketTLSCert != "" || c.WebSocketTLSKey != "" {
			return badConfig("a WebSocket certificate without --websocket: give --websocket ADDR too")
		}
		return nil
	}
	host, port, err := hostPort("--websocket", c.WebSocket)
	if err != nil {
		return err
	}
	o.Websocket.Host, o.Websocket.Port = host, port
	if (c.WebSocketTLSCert == "") != (c.WebSocketTLSKey == "") {
		return badConfig("wss needs both a certificate and its key (--websocket-tls-cert and --websocket-tls-key)")
	}
	if c.WebSocketTLSCert == "" {
		// Plain ws://, which NATS only allows when told: for loopback, or
		// behind a reverse proxy that terminates TLS.
		o.Websocket.NoTLS = true
		return nil
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.WebSocketTLSCert, KeyFile: c.WebSocketTLSKey})
	if err != nil {
		return badConfig("the WebSocket certificate: %v: check --websocket-tls-cert and --websocket-tls-key", err)
	}
	o.Websocket.TLSConfig = tc
	return nil
}

func (c *Config) clusterOptions(o *server.Options) error {
	if c.Cluster == "" {
		if len(c.Routes) > 0 || c.ClusterSecret != "" {
			return badConfig("routes to other relays need a route listener of this one: give --cluster ADDR too")
		}
		return nil
	}
	host, port, err := hostPort("--cluster", c.Cluster)
	if err != nil {
		return err
	}
	name := c.ClusterName
	if name == "" {
		name = DefaultClusterName
	}
	if strings.ContainsAny(name, " \t\n") {
		return badConfig("--cluster-name %q: a cluster name has no spaces", name)
	}
	o.Cluster.Host, o.Cluster.Port, o.Cluster.Name = host, port, name
	if c.ClusterSecret != "" {
		o.Cluster.Username, o.Cluster.Password = ClusterUser, c.ClusterSecret
	}
	routes := c.Routes
	if len(routes) == 0 {
		// The first relay of a cluster routes to itself: JetStream in a
		// cluster needs a route, and NATS ignores the one to itself. The
		// others will route to this one.
		p, self, err := selfRoute(host, port)
		if err != nil {
			return err
		}
		o.Cluster.Port = p
		routes = []string{self}
	}
	for _, r := range routes {
		u, err := parseRoute(r)
		if err != nil {
			return err
		}
		if u.User == nil && c.ClusterSecret != "" {
			u.User = url.UserPassword(ClusterUser, c.ClusterSecret)
		}
		o.Routes = append(o.Routes, u)
	}
	return nil
}

// selfRoute returns the route of a relay to its own route listener at
// host:port; port RANDOM_PORT is replaced by a free port (which it takes
// between now and the start of the server is a race that loses only when
// something else takes the same port at that moment).
func selfRoute(host string, port int) (int, string, error) {
	if port == server.RANDOM_PORT {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, "", fmt.Errorf("farpipe: the relay cannot listen on %s: %w: give another --cluster", net.JoinHostPort(host, "0"), err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return port, "nats://" + net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// parseRoute parses the cluster URL of another relay: nats://host:port
// (nats-route:// as well; a bare host:port means nats://).
func parseRoute(r string) (*url.URL, error) {
	s := strings.TrimSpace(r)
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "nats-route") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, badConfig("route %q is not a relay's cluster URL: give nats://HOST:PORT, the --cluster address of another relay", r)
	}
	if _, _, err := hostPort("route", u.Host); err != nil || u.Port() == "" || u.Port() == "0" {
		return nil, badConfig("route %q needs a host and a port: give nats://HOST:PORT, the --cluster address of another relay", r)
	}
	return u, nil
}

// prepareStore creates dir if needed and checks that it is a writable
// directory.
func prepareStore(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("farpipe: relay store %s: %w: give a writable directory with --store", dir, err)
	}
	f, err := os.CreateTemp(dir, ".farpipe-write-test-*")
	if err != nil {
		return fmt.Errorf("farpipe: relay store %s is not writable: %w: give a writable directory with --store", dir, err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}
