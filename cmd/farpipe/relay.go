package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/farpipe/farpipe/relay"
	"github.com/spf13/cobra"
)

// Environment variables of the relay's secrets, so they need not be on the
// command line (where ps shows them).
const (
	envRelayToken         = "FARPIPE_RELAY_TOKEN"
	envRelayPassword      = "FARPIPE_RELAY_PASSWORD"
	envRelayClusterSecret = "FARPIPE_RELAY_CLUSTER_SECRET"
	envRelayHTTPToken     = "FARPIPE_RELAY_HTTP_TOKEN"
)

// relayShutdownTimeout bounds the graceful stop of the relay after a signal;
// a second signal ends the wait at once.
const relayShutdownTimeout = 10 * time.Second

type relayFlags struct {
	listen, store, websocket, wsCert, wsKey string
	memoryLimit                             string
	cluster, clusterName, name              string
	routes                                  []string
	clusterSecretFile                       string
	token, tokenFile                        string
	user, password, passwordFile            string
	maxPayload, maxStore, maxMemory         string
	maxConnections                          int
	verbose                                 bool
	http, httpTokenFile                     string
}

func newRelayCmd() *cobra.Command {
	var f relayFlags
	cmd := &cobra.Command{
		Use:   "relay [flags]",
		Short: "Run a relay: a NATS server where pipes whose two ends both dial out meet",
		Long: `Run a relay: an embedded NATS server (with JetStream) where pipes whose two
ends both dial out meet (nats://RELAY/NAME addresses). The ends run their
session end to end through it, TLS and token included: the relay forwards
ciphertext. Any NATS server or cluster serves as well; this one needs no
installation.

When it is ready, relay prints on stderr the address clients should use, and
it runs until SIGTERM or SIGINT, when it stops gracefully (JetStream flushes
its store) and exits 0.

Access control: --token, or --user and --password, are required from every
client (NATS's own authentication). Give secrets by file (--token-file,
--password-file) or environment (` + envRelayToken + `, ` + envRelayPassword + `)
rather than on the command line, where ps shows them.

Clustering: give every relay a route listener (--cluster) and the cluster
address of at least one other relay (--routes); clients learn the others and
move to one when their relay stops. ` + envRelayClusterSecret + ` (or
--cluster-secret-file), the same on every relay, keeps others out of the
cluster. See docs/relay.md.

Exit status: 0 after a clean stop; 1 when the relay cannot start (a port in
use, a store that is not a writable directory or that another relay uses),
stops on its own, or does not finish stopping within 10 s or before a
second signal; 2 for a bad command line.`,
		Example: `  farpipe relay
  farpipe relay --listen :4222 --websocket :8080 --token-file /etc/farpipe/relay-token
  farpipe relay --cluster :6222 --routes nats://relay1:6222,nats://relay2:6222`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("farpipe relay takes no arguments, got %q: give addresses with --listen, --websocket, --cluster", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRelay(cmd.Context(), &f, logWriter(os.Stderr, evRelay))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", relay.DefaultListen, "the address of the client listener (port 0: a free port, printed)")
	fl.StringVar(&f.store, "store", "", "the directory of JetStream's store (default $XDG_STATE_HOME/farpipe/relay or ~/.local/state/farpipe/relay)")
	fl.StringVar(&f.websocket, "websocket", "", "also accept NATS clients over WebSocket at this address (plain ws:// unless a certificate is given)")
	fl.StringVar(&f.wsCert, "websocket-tls-cert", "", "PEM certificate of the WebSocket listener (wss://)")
	fl.StringVar(&f.wsKey, "websocket-tls-key", "", "PEM key of the WebSocket listener's certificate")
	fl.StringVar(&f.cluster, "cluster", "", "the address of the route listener, where the other relays of a cluster connect")
	fl.StringSliceVar(&f.routes, "routes", nil, "the cluster addresses of other relays, nats://HOST:PORT,... (needs --cluster)")
	fl.StringVar(&f.clusterName, "cluster-name", relay.DefaultClusterName, "the cluster's name, the same on every relay of it")
	fl.StringVar(&f.clusterSecretFile, "cluster-secret-file", "", "a file holding the secret every relay of the cluster shares (or "+envRelayClusterSecret+")")
	fl.StringVar(&f.name, "name", "", "this relay's name in its cluster, unique and stable (default HOSTNAME-PORT)")
	fl.StringVar(&f.token, "token", "", "require this token from clients (visible in ps: prefer --token-file or "+envRelayToken+")")
	fl.StringVar(&f.tokenFile, "token-file", "", "require the token held in this file from clients")
	fl.StringVar(&f.user, "user", "", "require this user name and the password from clients")
	fl.StringVar(&f.password, "password", "", "the password of --user (visible in ps: prefer --password-file or "+envRelayPassword+")")
	fl.StringVar(&f.passwordFile, "password-file", "", "a file holding the password of --user")
	fl.StringVar(&f.maxPayload, "max-payload", "1MiB", "the largest message a client may publish (NATS allows up to 64MiB)")
	fl.StringVar(&f.maxStore, "max-store", "0", "the most JetStream keeps on disk (0: NATS's default, 75% of the free space)")
	fl.StringVar(&f.maxMemory, "max-memory", "0", "the most JetStream keeps in memory (0: NATS's default, 75% of the memory)")
	fl.StringVar(&f.memoryLimit, "memory-limit", "96MiB", "the relay's soft memory limit: its garbage collector works harder near it (0: none; $GOMEMLIMIT, when set, wins)")
	fl.IntVar(&f.maxConnections, "max-connections", 0, "the most clients connected at once (0: NATS's default, 65536)")
	fl.StringVar(&f.http, "http", "", "serve a live page of the relay's pipes, streams and queues at this address (see docs/relay.md)")
	fl.StringVar(&f.httpTokenFile, "http-token-file", "", "the token the page asks of clients off loopback (or "+envRelayHTTPToken+"; default the relay's token)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print the server's notices, warnings and errors on stderr")
	return cmd
}

// secret returns the value of a secret given by flag, file or environment
// variable: at most one of flag and file, the environment when neither.
func secret(flagName, flagVal, fileFlag, file, env string) (string, error) {
	switch {
	case flagVal != "" && file != "":
		return "", usagef("give --%s or --%s, not both", flagName, fileFlag)
	case flagVal != "":
		return flagVal, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usagef("--%s: %v", fileFlag, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" || strings.ContainsAny(s, "\r\n") {
			return "", usagef("--%s %s: the file must hold the secret on one line", fileFlag, file)
		}
		return s, nil
	}
	return strings.TrimSpace(os.Getenv(env)), nil
}

// config turns the flags into the relay's Config.
func (f *relayFlags) config() (relay.Config, error) {
	cfg := relay.Config{
		Listen: f.listen, StoreDir: f.store,
		WebSocket: f.websocket, WebSocketTLSCert: f.wsCert, WebSocketTLSKey: f.wsKey,
		Cluster: f.cluster, Routes: f.routes, ClusterName: f.clusterName, Name: f.name,
		User: f.user, MaxConnections: f.maxConnections,
	}
	var err error
	if cfg.Token, err = secret("token", f.token, "token-file", f.tokenFile, envRelayToken); err != nil {
		return cfg, err
	}
	if f.user != "" || f.password != "" || f.passwordFile != "" {
		if cfg.Password, err = secret("password", f.password, "password-file", f.passwordFile, envRelayPassword); err != nil {
			return cfg, err
		}
		if f.token == "" && f.tokenFile == "" {
			cfg.Token = "" // from the environment: --user was asked for
		}
	}
	cfg.HTTP = f.http
	if cfg.HTTPToken, err = secret("http-token", "", "http-token-file", f.httpTokenFile, envRelayHTTPToken); err != nil {
		return cfg, err
	}
	if cfg.ClusterSecret, err = secret("cluster-secret", "", "cluster-secret-file", f.clusterSecretFile, envRelayClusterSecret); err != nil {
		return cfg, err
	}
	if f.cluster == "" && f.clusterSecretFile == "" {
		cfg.ClusterSecret = "" // from the environment, for when there is a cluster
	}
	n, err := humanize.ParseBytes(f.maxPayload)
	if err != nil || n == 0 || n > math.MaxInt32 {
		return cfg, usagef("--max-payload %q: give a size such as 1MiB (at most 64MiB)", f.maxPayload)
	}
	cfg.MaxPayload = int(n)
	for _, l := range []struct {
		flag, val string
		to        *int64
	}{{"--max-store", f.maxStore, &cfg.MaxStore}, {"--max-memory", f.maxMemory, &cfg.MaxMemory}} {
		n, err := humanize.ParseBytes(l.val)
		if err != nil || n > math.MaxInt64 {
			return cfg, usagef("%s %q: give a size such as 10GiB, or 0 for NATS's default", l.flag, l.val)
		}
		*l.to = int64(n)
	}
	if f.verbose {
		cfg.Log = logWriter(os.Stderr, evRelay)
	}
	return cfg, nil
}

// limitMemory sets the soft memory limit of --memory-limit, unless
// GOMEMLIMIT is set. The relay's live memory is bounded (pipes' windows,
// NATS's per-client limits), but messages come and go at the rate of the
// streams, and without a limit the heap grows to twice what is live
// before it is collected.
func (f *relayFlags) limitMemory() error {
	n, err := humanize.ParseBytes(f.memoryLimit)
	if err != nil || (n != 0 && n < 16<<20) {
		return usagef("--memory-limit %q: give 0 (none) or a size of at least 16MiB, for example 96MiB", f.memoryLimit)
	}
	if n > 0 {
		softMemoryLimit(int64(n))
	}
	return nil
}

func runRelay(ctx context.Context, f *relayFlags, stderr io.Writer) error {
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if err := f.limitMemory(); err != nil {
		return err
	}
	// Signals stop the relay cleanly (exit 0) rather than interrupt it.
	sigs, release := takeSignals(ctx)
	defer release()
	if ctx.Err() != nil {
		return nil // a signal came before: nothing was started
	}
	srv, err := relay.Start(ctx, cfg)
	if errors.Is(err, relay.ErrBadConfig) {
		return &usageError{oneLine(err)}
	}
	if err != nil {
		return err
	}
	obs.relay(srv.NATS())
	fmt.Fprintln(stderr, srv.ReadyLine())
	var stoppedAlone bool
	select {
	case s := <-sigs:
		if f.verbose {
			fmt.Fprintf(stderr, "farpipe: relay: %v: stopping\n", s)
		}
	case <-ctx.Done():
	case <-srv.Done():
		stoppedAlone = true
	}
	if err := stopRelay(srv, sigs); err != nil {
		return err
	}
	if stoppedAlone {
		return errors.New("farpipe: the relay stopped on its own: run it with -v to see why")
	}
	return nil
}

// stopRelay shuts srv down, waiting at most relayShutdownTimeout, or until
// another signal comes.
func stopRelay(srv *relay.Server, sigs <-chan os.Signal) error {
	ctx, cancel := context.WithTimeoutCause(context.Background(), relayShutdownTimeout,
		fmt.Errorf("it did not stop within %v", relayShutdownTimeout))
	defer cancel()
	ctx, cancelCause := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() { // owned by stopRelay, which waits for watched
		defer close(watched)
		select {
		case s := <-sigs:
			cancelCause(fmt.Errorf("a second signal (%v) came", s))
		case <-ctx.Done():
		}
	}()
	err := srv.Shutdown(ctx)
	cancelCause(nil)
	<-watched
	return err
}
