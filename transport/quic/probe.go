package quic

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// probe finds out quickly whether nobody listens at raddr, which a QUIC
// handshake learns only when its timeout runs out: UDP has no "connection
// refused", and quic-go's unconnected socket does not see the ICMP "port
// unreachable" that stands for it. probe sends one byte (a datagram QUIC
// ignores) from a connected UDP socket of its own, which does see it, and
// then cancels the dial with a cause wrapping syscall.ECONNREFUSED. Where
// ICMP is filtered nothing comes back and the handshake runs as it would.
// stop ends the probe and waits for its goroutine.
func probe(raddr *net.UDPAddr, cancel context.CancelCauseFunc) (stop func()) {
	pc, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := pc.Write([]byte{0})
		if err == nil {
			var b [1]byte
			_, err = pc.Read(b[:]) // until an ICMP error, a reply, or stop
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			cancel(fmt.Errorf("nobody listens on udp %s: %w", raddr, err))
		}
	}()
	return func() {
		pc.Close()
		<-done
	}
}
