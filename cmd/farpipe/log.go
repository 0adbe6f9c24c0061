package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/farpipe/farpipe"
	"github.com/farpipe/farpipe/flow"
)

// The messages of -v (and the final error) go to standard error, as lines
// "farpipe: ..." by default, or with --log-format json as one JSON object
// per event, written by log/slog's JSONHandler. The fields are listed in
// docs/logging.md; their names are stable.

// logJSON writes the events as JSON; nil: as text lines.
var logJSON *slog.Logger

// Events of --log-format json (the "event" field).
const (
	evMessage     = "message"      // a line without an event of its own
	evListen      = "listen"       // listening (addr)
	evConnect     = "connect"      // a pipe connected (peer)
	evDisconnect  = "disconnect"   // the connection of a pipe failed (error)
	evRetry       = "retry"        // a reconnection attempt failed (attempt, error)
	evResume      = "resume"       // the pipe resumed (attempt, outage_seconds, ...)
	evRejected    = "rejected"     // a listener rejected a connection (error)
	evEnd         = "end"          // a transfer ended (statistics)
	evChunkFailed = "chunk_failed" // map/worker: a chunk's command failed (chunk, error)
	evChunkRetry  = "chunk_retry"  // map/worker: a chunk runs again (chunk, error)
	evMetrics     = "metrics"      // the metrics endpoint is up (url)
	evRelay       = "relay"        // a line of the relay and its server
	evReady       = "ready"        // the relay is ready (msg)
	evError       = "error"        // the command failed (exit_code)
)

// warnEvents are logged at level WARN, evError at ERROR, others at INFO.
var warnEvents = map[string]bool{evDisconnect: true, evRetry: true, evRejected: true, evChunkFailed: true, evChunkRetry: true}

// setLogFormat applies --log-format, if cmd has it.
func setLogFormat(cmd *cobra.Command) error {
	fl := cmd.Flags().Lookup("log-format")
	if fl == nil {
		return nil
	}
	switch fl.Value.String() {
	case "text":
		logJSON = nil
	case "json":
		logJSON = slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("command", cmd.Name())
	default:
		return usagef("--log-format %q: give text or json", fl.Value.String())
	}
	return nil
}

// logf writes a line of -v: "farpipe: " and the message, or a JSON event
// "message".
func logf(format string, args ...any) { logEvent(evMessage, fmt.Sprintf(format, args...)) }

// logEvent writes an event: the line "farpipe: msg", or a JSON object with
// msg, the event's name and attrs (key, value pairs as slog takes them).
func logEvent(event, msg string, attrs ...any) {
	level := slog.LevelInfo
	switch {
	case event == evError:
		level = slog.LevelError
	case warnEvents[event]:
		level = slog.LevelWarn
	}
	logAt(level, event, msg, attrs...)
}

// logAt is logEvent at a given level.
func logAt(level slog.Level, event, msg string, attrs ...any) {
	if logJSON == nil {
		fmt.Fprintf(os.Stderr, "farpipe: %s\n", msg)
		return
	}
	logJSON.Log(context.Background(), level, msg, append([]any{"event", event}, attrs...)...)
}

// logLine writes a whole line "farpipe: ...\n" with line (which keeps it
// from mixing with other lines), or as a JSON event.
func logLine(line func(string), event, msg string, attrs ...any) {
	if logJSON == nil {
		line("farpipe: " + msg + "\n")
		return
	}
	logEvent(event, msg, attrs...)
}

// logWriter returns w, or with --log-format json a writer that turns each
// line "farpipe: ..." written to it into a JSON event (the relay's lines).
func logWriter(w io.Writer, event string) io.Writer {
	if logJSON == nil {
		return w
	}
	return &eventWriter{event: event}
}

// eventWriter logs each line written to it as an event.
type eventWriter struct {
	mu    sync.Mutex
	event string
	buf   []byte
}

func (e *eventWriter) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buf = append(e.buf, p...)
	for {
		i := strings.IndexByte(string(e.buf), '\n')
		if i < 0 {
			break
		}
		line := strings.TrimPrefix(string(e.buf[:i]), "farpipe: ")
		e.buf = e.buf[i+1:]
		event, level := e.event, slog.LevelInfo
		switch {
		case strings.HasPrefix(line, "relay ready:"):
			event = evReady
		case strings.Contains(line, ": warning: "):
			level = slog.LevelWarn
		case strings.Contains(line, ": error: "), strings.Contains(line, ": fatal: "):
			level = slog.LevelError
		}
		logAt(level, event, line)
	}
	return len(p), nil
}

// logError writes the error a command ended with (line, which starts with
// "farpipe: "), and its exit status in JSON.
func logError(line string, code int) {
	if logJSON == nil {
		fmt.Fprintln(os.Stderr, line)
		return
	}
	logEvent(evError, strings.TrimPrefix(line, "farpipe: "), "exit_code", code)
}

// logConnect writes that c connected.
func logConnect(c *farpipe.Conn) {
	peer := c.RemoteAddr().String()
	logEvent(evConnect, "connected to "+peer, "peer", peer)
}

// logSessionEvent writes a disconnection, a failed reconnection attempt or
// a resumption.
func logSessionEvent(e farpipe.Event) {
	switch e.Kind {
	case farpipe.EventDisconnected:
		logEvent(evDisconnect, e.String(), "error", eventErr(e.Err))
	case farpipe.EventRetry:
		logEvent(evRetry, e.String(), "attempt", e.Attempt, "error", eventErr(e.Err))
	case farpipe.EventResumed:
		logEvent(evResume, e.String(), "attempt", e.Attempt, "outage_seconds", e.Outage.Seconds(),
			"send_at", e.SendAt[0], "recv_at", e.RecvAt[0], "resent_bytes", e.Resent)
	default:
		logf("%s", e)
	}
}

// eventErr is err's message without "farpipe: ", or "" for nil.
func eventErr(err error) string {
	if err == nil {
		return ""
	}
	return trimPrefix(err)
}

// logChunk writes an event about chunk c of map or worker with line (the
// command's, which keeps lines whole).
func logChunk(line func(string), event string, c *flow.Chunk, msg string, err error) {
	logLine(line, event, msg, "chunk", c.Seq, "offset", c.Offset, "size", c.Size, "error", eventErr(err))
}
