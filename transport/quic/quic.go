package quic

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/farpipe/farpipe/transport"
)

// Scheme is the scheme under which this transport registers itself.
const Scheme = "quic"

func init() {
	transport.Register(Scheme, New())
}

// version is the byte a dialer writes first on its stream; a listener
// accepts only streams that start with it.
const version = 1

// Timeouts of a QUIC connection. The session layer above has its own
// keepalives and resumes a broken connection; these only make QUIC keep
// NAT bindings open and give up on a peer that is gone.
const (
	handshakeTimeout = 10 * time.Second // a handshake with no reply for this long fails
	idleTimeout      = 30 * time.Second // a silent peer is gone after it
	keepAlive        = 10 * time.Second // a PING after this much silence
	helloTimeout     = 10 * time.Second // a listener waits this long for the first stream
)

// config returns the QUIC configuration of a dialer (listener false) or a
// listener. A connection carries one bidirectional stream, opened by the
// dialer, and one unidirectional stream each way for the close notice.
func config(listener bool) *quicgo.Config {
	bidi := int64(-1)
	if listener {
		bidi = 1
	}
	return &quicgo.Config{
		HandshakeIdleTimeout:  handshakeTimeout,
		MaxIdleTimeout:        idleTimeout,
		KeepAlivePeriod:       keepAlive,
		MaxIncomingStreams:    bidi,
		MaxIncomingUniStreams: 1,
	}
}

// bufferWarning is the environment variable that silences quic-go's
// one-time warning about small UDP socket buffers.
const bufferWarning = "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"

var quietOnce sync.Once

// quiet silences quic-go's log line about UDP buffer sizes, which it
// prints with the standard logger on stderr where farpipe's own output
// goes, unless the user set the variable. docs/transports.md says how to
// give QUIC the buffers it wants instead.
func quiet() {
	quietOnce.Do(func() {
		if _, set := os.LookupEnv(bufferWarning); !set {
			os.Setenv(bufferWarning, "true")
		}
	})
}

// quicTransport is the QUIC transport. It has no state: every Dial uses
// its own UDP socket and every Listen its own.
type quicTransport struct{}

// New returns the QUIC transport, for use without the registry.
func New() transport.Transport { return quicTransport{} }

// ValidateAddr checks that addr is HOST:PORT; see transport.SplitHostPort.
func (quicTransport) ValidateAddr(addr string) error {
	_, _, err := transport.SplitHostPort(addr)
	return err
}

// Dial connects to addr, a HOST:PORT, from a UDP socket of its own: the
// QUIC handshake, then one stream. ctx bounds all of that.
func (quicTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	host, _, err := transport.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("farpipe: dial quic://%s: %w", addr, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	raddr, err := resolve(ctx, addr)
	if err != nil {
		return fail(err)
	}
	quiet()
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return fail(err)
	}
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := probe(raddr, cancel)
	qc, err := quicgo.Dial(dctx, udp, raddr, clientTLS(host), config(false))
	stop()
	if err != nil {
		udp.Close()
		if cause := context.Cause(dctx); cause != nil && ctx.Err() == nil {
			err = cause
		}
		return fail(err)
	}
	st, err := qc.OpenStreamSync(ctx)
	if err == nil {
		_, err = st.Write([]byte{version})
	}
	if err != nil {
		qc.CloseWithError(codeClosed, "")
		udp.Close()
		return fail(err)
	}
	return newConn(qc, st, func() { udp.Close() }), nil
}

// resolve resolves addr, HOST:PORT, to a UDP address, honouring ctx.
func resolve(ctx context.Context, addr string) (*net.UDPAddr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host == "" { // ":PORT": this host, as for tcp
		host = "127.0.0.1"
	}
	ap, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ap) == 0 {
		return nil, fmt.Errorf("no address for %s", host)
	}
	pn, err := net.DefaultResolver.LookupPort(ctx, "udp", port)
	if err != nil {
		return nil, err
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap[0].Unmap(), uint16(pn))), nil
}

// Listen announces addr, a HOST:PORT, on a UDP socket with a certificate
// of its own (see serverTLS).
func (quicTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	if _, _, err := transport.SplitHostPort(addr); err != nil {
		return nil, err
	}
	tc, err := serverTLS()
	if err != nil {
		return nil, err
	}
	quiet()
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("farpipe: %w", err)
	}
	ql, err := quicgo.Listen(pc, tc, config(true))
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("farpipe: listen quic://%s: %w", addr, err)
	}
	actx, cancel := context.WithCancel(context.Background())
	l := &listener{pc: pc, ql: ql, ctx: actx, cancel: cancel, accept: make(chan *conn, backlog), refs: 1}
	l.wg.Go(l.acceptLoop)
	return l, nil
}

// backlog is how many connections may wait for Accept.
const backlog = 64

// A listener accepts QUIC connections on its UDP socket, which it shares
// with the connections it accepted: the socket is closed when the listener
// and all of them are.
type listener struct {
	pc     net.PacketConn
	ql     *quicgo.Listener
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	accept chan *conn
	wg     sync.WaitGroup // acceptLoop and the hello of each connection
	once   sync.Once

	mu   sync.Mutex
	refs int // the listener and the connections accepted
}

// errListenerClosed is returned by Accept after Close.
var errListenerClosed = fmt.Errorf("farpipe: quic listener closed: %w", net.ErrClosed)

// acceptLoop takes each new QUIC connection and waits, in a goroutine of
// its own, for its stream.
func (l *listener) acceptLoop() {
	for {
		qc, err := l.ql.Accept(l.ctx)
		if err != nil {
			return
		}
		l.wg.Go(func() { l.hello(qc) })
	}
}

// hello waits for the dialer's stream and its version byte, then queues
// the connection for Accept.
func (l *listener) hello(qc *quicgo.Conn) {
	ctx, cancel := context.WithTimeout(l.ctx, helloTimeout)
	defer cancel()
	st, err := qc.AcceptStream(ctx)
	if err != nil {
		qc.CloseWithError(codeNotPipe, "no stream")
		return
	}
	st.SetReadDeadline(time.Now().Add(helloTimeout))
	var b [1]byte
	if _, err := io.ReadFull(st, b[:]); err != nil || b[0] != version {
		qc.CloseWithError(codeNotPipe, "not a farpipe stream")
		return
	}
	st.SetReadDeadline(time.Time{})
	l.mu.Lock()
	l.refs++
	l.mu.Unlock()
	c := newConn(qc, st, l.unref)
	select {
	case l.accept <- c:
	case <-l.ctx.Done():
		qc.CloseWithError(codeListener, "listener closed")
	}
}

// unref drops one reference to the UDP socket, closing it after the last.
func (l *listener) unref() {
	l.mu.Lock()
	l.refs--
	last := l.refs == 0
	l.mu.Unlock()
	if last {
		l.pc.Close()
	}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case <-l.ctx.Done():
		return nil, errListenerClosed
	default:
	}
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.ctx.Done():
		return nil, errListenerClosed
	}
}

// Close stops listening. Connections already accepted keep running;
// those queued but not accepted are closed.
func (l *listener) Close() error {
	l.once.Do(func() {
		l.cancel()
		l.ql.Close()
		l.wg.Wait()
		for {
			select {
			case c := <-l.accept:
				c.qc.CloseWithError(codeListener, "listener closed")
				continue
			default:
			}
			break
		}
		l.unref()
	})
	return nil
}

func (l *listener) Addr() net.Addr { return l.pc.LocalAddr() }
