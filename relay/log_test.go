package relay

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestLoggerFatal(t *testing.T) {
	inUse := &net.OpError{Op: "listen", Net: "tcp", Err: fmt.Errorf("bind: %w", syscall.EADDRINUSE)}
	for _, tt := range []struct {
		name   string
		format string
		args   []any
		is     error
		says   string
	}{
		{"with the system's error", "Error listening on port: %s, %q", []any{"127.0.0.1:4222", inUse}, syscall.EADDRINUSE, "address already in use"},
		{"message only", "Not allowed to enable JetStream on the system account", nil, nil, "JetStream"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			l := newLogger(&out)
			l.Fatalf(tt.format, tt.args...)
			l.Fatalf("a second fatal error")
			select {
			case <-l.died:
			default:
				t.Fatal("died is not closed")
			}
			err := l.fatalErr()
			if err == nil || !strings.HasPrefix(err.Error(), "farpipe: the relay could not start: ") || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("fatal error %v, want the first one, saying %q", err, tt.says)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v does not match %v", err, tt.is)
			}
			if got := strings.Count(out.String(), "farpipe: relay: fatal: "); got != 2 {
				t.Errorf("%d fatal lines logged, want 2: %q", got, out.String())
			}
		})
	}
}

func TestLoggerQuiet(t *testing.T) {
	l := newLogger(nil)
	l.Noticef("notice %d", 1)
	l.Warnf("warning")
	l.Errorf("error")
	l.Debugf("debug")
	l.Tracef("trace")
	if l.fatalErr() != nil {
		t.Fatal("a fatal error without Fatalf")
	}
}
