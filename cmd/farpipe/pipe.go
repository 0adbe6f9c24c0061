package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/secure"
	"github.com/farpipe/farpipe/transport"
	"github.com/spf13/cobra"
)

// streamFlags are the flags of send and recv about their local end.
type streamFlags struct {
	fifo     string
	progress progressFlags
	name     string // send --name: what the receiver calls this sender
	rate     rateFlag
}

func (sf *streamFlags) register(cmd *cobra.Command, what string) {
	fl := cmd.Flags()
	fl.StringVar(&sf.fifo, "fifo", "", "create a named pipe at this path and "+what+" it instead of standard "+map[string]string{"read": "input", "write": "output"}[what]+"; removed on exit")
	fl.StringVarP(&sf.progress.mode, "progress", "p", "", "show a live progress line on stderr when it is a terminal (--progress=always: in any case)")
	fl.Lookup("progress").NoOptDefVal = "auto"
	fl.StringVar(&sf.progress.size, "size", "", "expected size of the stream, for the percentage and ETA of --progress (e.g. 4GiB)")
}

// start checks the flags, creates the named pipe if asked and connects to
// the peer. done closes the connection and removes the named pipe.
func (sf *streamFlags) start(ctx context.Context, f *endpointFlags, addr, verb string, std *os.File) (c *farpipe.Conn, done func(), err error) {
	if _, err := f.options(); err != nil {
		return nil, nil, err
	}
	if _, err := sf.progress.check(); err != nil {
		return nil, nil, err
	}
	if _, err := sf.rate.check(); err != nil {
		return nil, nil, err
	}
	if sf.fifo == "" {
		if err := checkStd(std, verb == "recv", verb); err != nil {
			return nil, nil, err
		}
	}
	remove := func() {}
	if sf.fifo != "" {
		if remove, err = makeFifo(sf.fifo); err != nil {
			return nil, nil, err
		}
	}
	c, closeConn, err := f.connect(ctx, addr)
	if err != nil {
		remove()
		return nil, nil, err
	}
	return c, func() { closeConn(); remove() }, nil
}

// local returns the file to read (send) or write (recv): std, or the named
// pipe once a program has opened its other end. It also grows a pipe's
// buffer; finish closes the named pipe.
func (sf *streamFlags) local(c *farpipe.Conn, std *os.File, verb string) (f *os.File, finish func(), err error) {
	if sf.fifo == "" {
		growPipe(std)
		return std, func() {}, nil
	}
	if f, err = openFifo(sf.fifo, verb == "recv"); err != nil {
		c.Abort("the " + map[string]string{"send": "sender", "recv": "receiver"}[verb] + " could not open its named pipe")
		return nil, nil, err
	}
	growPipe(f)
	return f, func() { f.Close() }, nil
}

// track shows the progress line of --progress, if asked, counting what
// count returns out of size bytes (-1: unknown; --size takes precedence).
// The returned function ends it.
func (sf *streamFlags) track(verb string, size int64, count func() uint64) (stop func()) {
	if !sf.progress.show() {
		return func() {}
	}
	if n, _ := sf.progress.check(); n >= 0 {
		size = n
	}
	p := newProgress(verb, size, count, os.Stderr)
	p.limit = sf.rate.label()
	p.run()
	return p.finish
}

// endpointFlags are the flags send and recv share: how to reach the peer.
type endpointFlags struct {
	peerVerb string // what the other side runs: "send", "recv" or "connect"
	sessions int    // how many pipes a listener serves at once; 0: no limit
	verb     string // what this side runs: the command's name

	listen     bool
	listenAddr string // exec's --listen ADDR
	verbose    bool
	quiet      bool
	wait       time.Duration
	window     string
	resume     time.Duration
	backoffMax time.Duration
	keepalive  time.Duration
	compress   string // --compress: "zstd", "none", or "" (not given)

	code codeFlags // short codes (send, recv, exec, connect)

	tokenFile      string
	noEncrypt      bool
	cert, key, ca  string
	generatedToken bool // the listener made up the token: print it
}

// codes reports whether the command takes short codes.
func (f *endpointFlags) codes() bool {
	switch f.verb {
	case "send", "recv", "exec", "connect":
		return true
	}
	return false
}

func (f *endpointFlags) register(cmd *cobra.Command) {
	f.verb = cmd.Name()
	fl := cmd.Flags()
	if cmd.Name() == "exec" {
		fl.StringVarP(&f.listenAddr, "listen", "l", "", "listen at this address (required)")
	} else {
		fl.BoolVarP(&f.listen, "listen", "l", false, "listen at ADDR and wait for the peer instead of dialing it")
	}
	if f.codes() {
		f.code.register(cmd)
	}
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print connection events and end-of-transfer statistics on stderr")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "with --listen, do not print the command for the other host")
	fl.DurationVar(&f.wait, "wait", 0, "when dialing, keep retrying for up to this long until the listener is up and the first connection succeeds (e.g. 30s)")
	fl.StringVar(&f.window, "window", "8MiB", "most bytes in flight: bounds memory on both sides")
	fl.DurationVar(&f.resume, "resume-timeout", 60*time.Second, "how long a dropped connection may take to come back before the transfer fails (0: no resume)")
	fl.DurationVar(&f.backoffMax, "backoff-max", time.Second, "longest wait between reconnection attempts")
	fl.DurationVar(&f.keepalive, "keepalive-timeout", 4*time.Second, "a connection on which nothing arrives for this long counts as dropped")
	fl.StringVar(&f.compress, "compress", "", "compress the stream: zstd or none (default none; a listener's --compress decides, otherwise the dialer's)")
	fl.StringVar(&f.tokenFile, "token-file", "", "read the shared token from this file (default: $FARPIPE_TOKEN, the fp:// address, or a new one when listening)")
	fl.BoolVar(&f.noEncrypt, "no-encrypt", false, "do not encrypt (trusted networks only): peers still prove the token to each other")
	fl.StringVar(&f.cert, "cert", "", "mutual TLS: this side's certificate (PEM)")
	fl.StringVar(&f.key, "key", "", "mutual TLS: this side's private key (PEM)")
	fl.StringVar(&f.ca, "ca", "", "mutual TLS: accept only peers whose certificate chains to this CA (PEM)")
}

// token returns the token from a short code, --token-file or
// $FARPIPE_TOKEN, if any.
func (f *endpointFlags) token() (string, error) {
	if f.code.token != "" {
		return f.code.token, nil
	}
	if f.tokenFile != "" {
		tok, err := secure.ReadTokenFile(f.tokenFile)
		if err != nil {
			return "", usagef("--token-file: %s", trimPrefix(err))
		}
		return tok, nil
	}
	if tok := strings.TrimSpace(os.Getenv(secure.EnvToken)); tok != "" {
		if err := secure.CheckToken(tok); err != nil {
			return "", usagef("%s (in $%s)", trimPrefix(err), secure.EnvToken)
		}
		return tok, nil
	}
	return "", nil
}

// partner is the command that goes with verb on the other side.
func partner(verb string) string {
	return map[string]string{"send": "recv", "recv": "send", "exec": "connect", "connect": "exec"}[verb]
}

func (f *endpointFlags) options() ([]farpipe.Option, error) {
	w, err := humanize.ParseBytes(f.window)
	if err != nil || w < 64<<10 || w > 1<<30 {
		return nil, usagef("--window %q: give a size from 64KiB to 1GiB, for example 8MiB", f.window)
	}
	switch {
	case f.wait < 0:
		return nil, usagef("--wait %s: give 0 (no retries) or a positive duration such as 30s", f.wait)
	case f.resume < 0:
		return nil, usagef("--resume-timeout %s: give 0 (no resume) or a positive duration such as 60s", f.resume)
	case f.backoffMax <= 0:
		return nil, usagef("--backoff-max %s: give a positive duration such as 1s", f.backoffMax)
	case f.keepalive < 100*time.Millisecond:
		return nil, usagef("--keepalive-timeout %s: give at least 100ms, for example 4s", f.keepalive)
	case (f.cert != "" || f.key != "" || f.ca != "") && (f.cert == "" || f.key == "" || f.ca == ""):
		return nil, usagef("mutual TLS needs all of --cert, --key and --ca")
	case f.cert != "" && f.noEncrypt:
		return nil, usagef("--no-encrypt cannot be combined with --cert")
	case f.compress != "" && f.compress != "zstd" && f.compress != "none":
		return nil, usagef("--compress %q: use zstd or none", f.compress)
	}
	opts := []farpipe.Option{
		farpipe.WithWindow(int(w)),
		farpipe.WithResumeTimeout(f.resume),
		farpipe.WithBackoffMax(f.backoffMax),
		farpipe.WithKeepalive(f.keepalive/4, f.keepalive),
		farpipe.WithMaxSessions(f.sessions),
		farpipe.WithRole(partner(f.peerVerb), f.peerVerb), // tee acts as send, merge as recv, map --via as connect
	}
	tok, err := f.token()
	if err != nil {
		return nil, err
	}
	if tok != "" {
		opts = append(opts, farpipe.WithToken(tok))
	}
	if f.noEncrypt {
		opts = append(opts, farpipe.WithNoEncrypt())
	}
	if f.compress != "" {
		opts = append(opts, farpipe.WithCompression(f.compress))
	}
	if f.cert != "" {
		opts = append(opts, farpipe.WithCertificates(f.cert, f.key, f.ca))
	}
	f.generatedToken = f.listen && tok == "" && f.cert == ""
	if f.verbose {
		// One line per disconnection and resumption; failed attempts only
		// when their reason changes, not once a second during an outage.
		var mu sync.Mutex
		lastRetry := ""
		opts = append(opts, farpipe.WithEvents(func(e farpipe.Event) {
			mu.Lock()
			defer mu.Unlock()
			if e.Kind == farpipe.EventRetry {
				if msg := e.Err.Error(); msg != lastRetry {
					lastRetry = msg
					logSessionEvent(e)
				}
				return
			}
			lastRetry = ""
			logSessionEvent(e)
		}))
	}
	return opts, nil
}

// connect listens for or dials the peer, as the flags say. The listener, if
// any, stays open (for resumptions, refusing any other peer) until done is
// called.
func (f *endpointFlags) connect(ctx context.Context, addr string) (c *farpipe.Conn, done func(), err error) {
	if f.codes() && isCode(addr) {
		if addr, err = f.byCode(ctx, addr); err != nil {
			return nil, nil, err
		}
	}
	opts, err := f.options()
	if err != nil {
		return nil, nil, err
	}
	if f.verbose && f.noEncrypt {
		logf("encryption is off (--no-encrypt): peers authenticate, but the stream crosses the network in clear")
	}
	if !f.listen {
		c, err = f.dial(ctx, addr, opts)
		if err != nil {
			return nil, nil, f.explain(err)
		}
		if f.verbose && f.compress == "zstd" && c.Compression() != "zstd" {
			logf("the listener declined compression (it runs with --compress none, or is an older farpipe): the stream goes uncompressed")
		}
		return c, func() { finish(c) }, nil
	}
	// A peer that fails authentication ends the wait: the two sides do not
	// hold the same token, and waiting would only hide it.
	actx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	ln, err := f.listener(ctx, addr, opts, func(err error) bool {
		if mismatch(err) {
			refuse(err)
			return true
		}
		return false
	})
	if err != nil {
		return nil, nil, f.explain(err)
	}
	c, err = ln.Accept(actx)
	if err != nil {
		ln.Close()
		if cause := context.Cause(actx); mismatch(cause) {
			return nil, nil, f.explain(cause)
		}
		var se *signalError
		if err := interrupted(ctx, err); errors.As(err, &se) && se.then == "" {
			return nil, nil, &signalError{sig: se.sig, then: "no peer had connected: nothing was transferred"}
		}
		return nil, nil, interrupted(ctx, err)
	}
	obs.track(c)
	if f.verbose {
		logConnect(c)
	}
	return c, func() { finish(c); ln.Close() }, nil
}

// mismatch reports whether err says that the two sides are not set up to
// work together: a listener that meets such a peer stops waiting, since its
// own peer would most likely meet the same fate.
func mismatch(err error) bool {
	return errors.Is(err, farpipe.ErrAuth) || errors.Is(err, farpipe.ErrRole) || errors.Is(err, farpipe.ErrEncryption)
}

// explain rewrites the library's errors about the setup of the two sides
// into what to change on the command line.
func (f *endpointFlags) explain(err error) error {
	var re *farpipe.RoleError
	switch {
	case errors.As(err, &re) && partner(re.PeerRole) != "":
		return kindf(err, "farpipe: role mismatch: the peer runs farpipe %s, which goes with farpipe %s, not with farpipe %s: run farpipe %s here instead, or farpipe %s there; nothing was transferred",
			re.PeerRole, partner(re.PeerRole), f.verb, partner(re.PeerRole), partner(f.verb))
	case errors.Is(err, farpipe.ErrRole):
		return kindf(err, "farpipe: role mismatch: the peer does not go with farpipe %s (%s): run farpipe %s there; nothing was transferred",
			f.verb, trimPrefix(err), partner(f.verb))
	case errors.Is(err, farpipe.ErrEncryption) && f.noEncrypt:
		return kindf(err, "farpipe: encryption mismatch: the peer encrypts and this side does not: drop --no-encrypt here, or add it on the other side; nothing was transferred")
	case errors.Is(err, farpipe.ErrEncryption):
		return kindf(err, "farpipe: encryption mismatch: this side encrypts and the peer does not (it runs with --no-encrypt): add --no-encrypt here, or drop it on the other side; nothing was transferred")
	case errors.Is(err, farpipe.ErrNoToken):
		return usagef("no token: set $%s or give --token-file FILE on both sides, or use the address with #TOKEN that the listening side printed", secure.EnvToken)
	}
	return err
}

// listener listens at addr, logs rejected connections with -v (unless
// handled says it took care of the error) and prints the command for the
// other host when the token was made up here.
func (f *endpointFlags) listener(ctx context.Context, addr string, opts []farpipe.Option, handled func(error) bool) (*farpipe.Listener, error) {
	opts = append(opts, farpipe.WithErrorLog(func(err error) {
		if handled != nil && handled(err) {
			return
		}
		obs.listenerError(err)
		if f.verbose || errors.Is(err, farpipe.ErrRole) || errors.Is(err, farpipe.ErrEncryption) {
			msg := trimPrefix(f.explain(err))
			logEvent(evRejected, "rejected a connection: "+msg, "error", msg)
		}
	}))
	ln, err := farpipe.Listen(ctx, addr, opts...)
	if err != nil {
		return nil, err
	}
	if f.verbose {
		logEvent(evListen, fmt.Sprintf("listening on %s", ln.Addr()), "addr", ln.Addr().String())
	}
	if f.generatedToken && !f.quiet {
		where := "on the other host"
		if transport.IsLocal(addr) {
			where = "on this host"
		}
		switch {
		case f.sessions == 1:
			logf("%s, run:\n\n    %s\n\nThe address serves one pipe only.", where, f.peerCommand(ln, addr))
		default:
			logf("%s, run:\n\n    %s\n\nThe address admits any number of peers while %s runs (--once: a single one).", where, f.peerCommand(ln, addr), f.verb)
		}
	}
	return ln, nil
}

// peerCommand is the command the other host runs to connect to ln.
func (f *endpointFlags) peerCommand(ln *farpipe.Listener, addr string) string {
	u := ln.URL() // already right for a local transport
	if transport.IsRendezvous(addr) {
		// The address as given, with the relay's login the peer needs too.
		if i := strings.LastIndexByte(addr, '#'); i >= 0 {
			addr = addr[:i]
		}
		u = addr + "#" + ln.Token()
	} else if scheme, _, err := transport.Parse(addr); err == nil {
		if d := dialableURL(scheme, ln.Addr(), ln.Token(), publicHost); d != "" {
			u = d
		}
	}
	cmd := "farpipe " + f.peerVerb
	if f.noEncrypt {
		cmd += " --no-encrypt"
	}
	return cmd + " " + u
}

// dialableURL is the address with token of a listener of transport scheme
// at addr, with a host the peer can dial, host(), in place of addr's
// unspecified IP address ("[::]:7000", "0.0.0.0:7000/path"): "" when addr
// names a host already or host() finds none. Over tcp it is
// fp://HOST:PORT/#TOKEN, as Listener.URL writes it, and SCHEME://HOST:PORT
// followed by what addr has after its port, then #TOKEN, over the others.
func dialableURL(scheme string, addr net.Addr, token string, host func() string) string {
	s := addr.String()
	hostPort, rest := s, ""
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hostPort, rest = s[:i], s[i:]
	}
	ip, port, err := net.SplitHostPort(hostPort)
	if err != nil || net.ParseIP(ip) == nil || !net.ParseIP(ip).IsUnspecified() {
		return ""
	}
	h := host()
	if h == "" {
		return ""
	}
	hostPort = net.JoinHostPort(h, port)
	if scheme == transport.DefaultScheme {
		return (&url.URL{Scheme: farpipe.Scheme, Host: hostPort, Path: "/", Fragment: token}).String()
	}
	u := scheme + "://" + hostPort + rest
	if token != "" {
		u += "#" + token
	}
	return u
}

// publicHost returns an address of this machine that another host can
// probably reach ("" if it finds none).
func publicHost() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	var v6 string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
		if v6 == "" {
			v6 = ipn.IP.String()
		}
	}
	if v6 != "" {
		return v6
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return ""
}

// dial dials addr, retrying for up to --wait while nobody listens there.
func (f *endpointFlags) dial(ctx context.Context, addr string, opts []farpipe.Option) (*farpipe.Conn, error) {
	deadline := time.Now().Add(f.wait)
	for {
		c, err := farpipe.Dial(ctx, addr, opts...)
		if err == nil {
			obs.track(c)
			if f.verbose {
				logConnect(c)
			}
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, interrupted(ctx, err)
		}
		if final(err) || time.Now().After(deadline) {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil, fmt.Errorf("farpipe: nothing listens at %s: start the other side first, or give --wait 30s", addr)
			}
			return nil, err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, interrupted(ctx, ctx.Err())
		}
	}
}

// final reports whether a failed dial is not worth retrying within --wait:
// the peers disagree (token, protocol, encryption) or the address is wrong.
// Nobody listening yet, a reset during the handshake or a busy listener may
// pass.
func final(err error) bool {
	return mismatch(err) || errors.Is(err, farpipe.ErrProtocol) ||
		errors.Is(err, transport.ErrBadAddress) || errors.Is(err, transport.ErrUnknownScheme) ||
		errors.Is(err, secure.ErrNoToken) || errors.Is(err, secure.ErrBadToken)
}

// interrupted replaces err by the signal that cancelled ctx, if any.
func interrupted(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		return cause
	}
	return err
}

// untilSignal runs f and returns its error, unless ctx is cancelled by a
// signal first: then it aborts c, telling the peer why, and returns at once
// with the signal as the error, leaving f blocked (on a terminal, say) for
// the process exit to end.
func untilSignal(ctx context.Context, c *farpipe.Conn, who string, f func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		reason := who + " was interrupted"
		var se *signalError
		if errors.As(context.Cause(ctx), &se) {
			reason += " by " + signalName(se.sig)
		}
		c.Abort(reason)
		// Exiting at once could reset the connection before the peer has
		// read why; Wait lasts until it has (about a second at most). f
		// may stay blocked on a local read: the process is about to exit.
		c.Wait()
		return context.Cause(ctx)
	}
}

// finish closes c and waits a little for the goodbye to reach the peer.
func finish(c *farpipe.Conn) {
	c.Close()
	select {
	case <-c.Done():
	case <-time.After(time.Second):
	}
}

// stats prints the end-of-transfer line of -v.
func stats(c *farpipe.Conn, verb string, bytes uint64, d time.Duration) {
	secs := d.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(bytes) / secs / 1e6
	}
	st := c.Stats()
	logEvent(evEnd, fmt.Sprintf("%s %d bytes (%s) in %.2f s, %.1f MB/s, %d reconnects, %d bytes resent",
		verb, bytes, humanize.IBytes(bytes), secs, rate, st.Reconnects, st.Resent),
		"verb", verb, "bytes", bytes, "seconds", secs, "bytes_per_second", rate*1e6,
		"reconnects", st.Reconnects, "resent_bytes", st.Resent, "rtt_seconds", st.RTT.Seconds())
	if c.Compression() != "none" {
		logEvent(evMessage, fmt.Sprintf("compressed with %s: %d bytes on the wire out, %d in", c.Compression(), st.WireWritten, st.WireRead),
			"compression", c.Compression(), "wire_written_bytes", st.WireWritten, "wire_read_bytes", st.WireRead)
	}
}

func trimPrefix(err error) string {
	s := err.Error()
	const p = "farpipe: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// copyBuf is the size of the buffer between stdin/stdout and the pipe.
const copyBuf = 1 << 20
