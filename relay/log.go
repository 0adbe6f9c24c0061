package relay

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// logger is the server's Logger: it writes notices, warnings and errors to
// w (when set), and keeps the first fatal error, which for an embedded
// server means it could not start (a listener, the JetStream store).
type logger struct {
	mu    sync.Mutex // guards w's writes and fatal
	w     io.Writer  // nil: quiet
	fatal error      // the first Fatalf
	died  chan struct{}
}

func newLogger(w io.Writer) *logger { return &logger{w: w, died: make(chan struct{})} }

func (l *logger) printf(level, format string, v []any) {
	if l.w == nil {
		return
	}
	msg := strings.ReplaceAll(fmt.Sprintf(format, v...), "\n", " ")
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "farpipe: relay: %s%s\n", level, msg)
}

func (l *logger) Noticef(format string, v ...any) { l.printf("", format, v) }
func (l *logger) Warnf(format string, v ...any)   { l.printf("warning: ", format, v) }
func (l *logger) Errorf(format string, v ...any)  { l.printf("error: ", format, v) }
func (l *logger) Debugf(string, ...any)           {}
func (l *logger) Tracef(string, ...any)           {}

// Fatalf keeps the first fatal error: its message, wrapping the error among
// v (the operating system's, for a listener), so errors.Is sees it.
func (l *logger) Fatalf(format string, v ...any) {
	l.printf("fatal: ", format, v)
	var cause error
	for _, a := range v {
		if e, ok := a.(error); ok {
			cause = e
			break
		}
	}
	// For an embedded server a fatal error means it could not start.
	err := &fatalError{msg: "farpipe: the relay could not start: " + fmt.Sprintf(format, v...) +
		" (-v shows the server's log)", cause: cause}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal == nil {
		l.fatal = err
		close(l.died)
	}
}

// fatalErr returns the first fatal error, nil if there was none.
func (l *logger) fatalErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

// fatalError is a fatal message of the server; it wraps the error that
// caused it, if the message had one, so errors.Is and As see it.
type fatalError struct {
	msg   string
	cause error
}

func (e *fatalError) Error() string { return e.msg }
func (e *fatalError) Unwrap() error { return e.cause }
