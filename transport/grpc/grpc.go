package grpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	grpclib "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/farpipe/farpipe/transport"
)

// Scheme is the scheme under which this transport registers itself.
const Scheme = "grpc"

func init() {
	transport.Register(Scheme, New())
}

// Flow-control windows of HTTP/2, per stream and per connection. gRPC's
// default (64 KiB, grown by its bandwidth estimator) keeps a loopback or
// LAN stream well below what TCP carries; a fixed window of a few MiB lets
// one stream fill the link. docs/transports.md gives the measurements.
const (
	streamWindow = 4 << 20
	connWindow   = 4 << 20
	bufferSize   = 256 << 10 // the read and write buffers of an HTTP/2 connection
)

// backlog is how many streams may wait for Accept.
const backlog = 64

// idleConn is how long a listener keeps an HTTP/2 connection with no
// stream open before closing it.
const idleConn = time.Minute

// grpcTransport is the gRPC transport. It has no state: every Dial makes
// its own gRPC client (one HTTP/2 connection) and every Listen its own
// gRPC server.
type grpcTransport struct{}

// New returns the gRPC transport, for use without the registry.
func New() transport.Transport { return grpcTransport{} }

// ValidateAddr checks that addr is HOST:PORT; see transport.SplitHostPort.
func (grpcTransport) ValidateAddr(addr string) error {
	_, _, err := transport.SplitHostPort(addr)
	return err
}

// Dial connects to the listener at addr, a HOST:PORT, over HTTP/2 without
// TLS (h2c), opens the stream and waits until the listener has queued it
// for Accept. ctx bounds all of that.
func (grpcTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if _, _, err := transport.SplitHostPort(addr); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("farpipe: dial grpc://%s: %w", addr, err)
	}
	var (
		mu            sync.Mutex
		dialErr       error
		local, remote net.Addr
	)
	dialer := func(ctx context.Context, a string) (net.Conn, error) {
		d := net.Dialer{KeepAlive: -1}
		c, err := d.DialContext(ctx, "tcp", a)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			dialErr = err
			return nil, err
		}
		local, remote = c.LocalAddr(), c.RemoteAddr()
		return c, nil
	}
	cc, err := grpclib.NewClient("passthrough:///"+addr,
		grpclib.WithTransportCredentials(insecure.NewCredentials()),
		grpclib.WithContextDialer(dialer),
		grpclib.WithInitialWindowSize(streamWindow),
		grpclib.WithInitialConnWindowSize(connWindow),
		grpclib.WithReadBufferSize(bufferSize),
		grpclib.WithWriteBufferSize(bufferSize),
		grpclib.WithDisableRetry(),
		grpclib.WithDefaultCallOptions(grpclib.ForceCodecV2(codec{})),
	)
	if err != nil {
		return nil, fmt.Errorf("farpipe: dial grpc://%s: %w", addr, err)
	}
	fail := func(err error) (net.Conn, error) {
		cc.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		} else {
			mu.Lock()
			if dialErr != nil {
				err = dialErr
			}
			mu.Unlock()
		}
		return nil, fmt.Errorf("farpipe: dial grpc://%s: %w", addr, err)
	}
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if s == connectivity.TransientFailure || s == connectivity.Shutdown {
			return fail(errors.New("connection failed"))
		}
		if !cc.WaitForStateChange(ctx, s) {
			return fail(ctx.Err())
		}
	}
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	cs, err := cc.NewStream(sctx, &serviceDesc.Streams[0], fullMethod)
	if err == nil {
		err = waitAccepted(cs)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		return fail(err)
	}
	mu.Lock()
	c := newConn(cs, local, remote)
	mu.Unlock()
	c.client, c.cancel = cc, cancel
	c.start()
	return c, nil
}

// waitAccepted waits for the header the listener sends once the stream is
// queued for Accept.
func waitAccepted(cs grpclib.ClientStream) error {
	md, err := cs.Header()
	if err != nil {
		return err
	}
	if md == nil { // the call ended without a header: its status says why
		if err := cs.RecvMsg(new(message)); err != nil {
			return err
		}
		return errors.New("the listener sent no header")
	}
	return nil
}

// Listen announces addr, a HOST:PORT, and serves gRPC over HTTP/2 without
// TLS (h2c) on it; every stream of the farpipe service is one connection
// for Accept.
func (grpcTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	if _, _, err := transport.SplitHostPort(addr); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("farpipe: %w", err)
	}
	l := &listener{
		ln:     ln,
		accept: make(chan *conn, backlog),
		done:   make(chan struct{}),
		served: make(chan struct{}),
	}
	l.srv = grpclib.NewServer(
		grpclib.ForceServerCodecV2(codec{}),
		grpclib.InitialWindowSize(streamWindow),
		grpclib.InitialConnWindowSize(connWindow),
		grpclib.ReadBufferSize(bufferSize),
		grpclib.WriteBufferSize(bufferSize),
		grpclib.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idleConn}),
	)
	l.srv.RegisterService(&serviceDesc, l)
	go func() {
		defer close(l.served)
		l.srv.Serve(ln)
	}()
	return l, nil
}

// A listener serves the gRPC service on its own net.Listener. Closing it
// stops accepting; connections already accepted keep running on their
// HTTP/2 connections until they are closed.
type listener struct {
	ln     net.Listener
	srv    *grpclib.Server
	accept chan *conn
	done   chan struct{}
	served chan struct{} // closed when Serve has returned
	once   sync.Once
}

// errListenerClosed is returned by Accept after Close.
var errListenerClosed = fmt.Errorf("farpipe: grpc listener closed: %w", net.ErrClosed)

func (l *listener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, errListenerClosed
	default:
	}
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

// Close stops listening. Streams queued but not accepted are closed.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.ln.Close()
		<-l.served
		for {
			select {
			case c := <-l.accept:
				c.Close()
				continue
			default:
			}
			break
		}
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}

func (l *listener) Addr() net.Addr { return l.ln.Addr() }

// handleStream serves one stream: it queues a conn for Accept, tells the
// dialer, and returns, ending the stream, once the conn is closed and its
// writer has stopped, or the stream is gone.
func handleStream(srv any, ss grpclib.ServerStream) error {
	l := srv.(*listener)
	local, remote := l.ln.Addr(), net.Addr(nil)
	if p, ok := peerAddr(ss.Context()); ok {
		remote = p
	}
	c := newConn(ss, local, remote)
	select {
	case l.accept <- c:
	case <-l.done:
		return status.Error(codes.Unavailable, "farpipe: the listener is closed")
	case <-ss.Context().Done():
		return ss.Context().Err()
	}
	if err := ss.SendHeader(nil); err != nil {
		c.Close()
		return err
	}
	c.start()
	select {
	case <-c.wdone:
	case <-ss.Context().Done():
		c.Close()
		<-c.wdone
	}
	return nil
}
