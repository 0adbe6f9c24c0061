// Package proc runs a command as a filter at the far end of a pipe, as the
// next stage of a pipeline on another host.
//
// Serve runs the command fixed by its caller, with its standard input,
// output and error wired through real pipes (os.Pipe, never sockets) to the
// channels of a farpipe session: the In channel carries the client's input
// to the command and the command's output back, Err carries the command's
// standard error, and Ctl carries control messages: signals from the client
// (SIGINT, SIGTERM and SIGHUP only) and, at the end, the command's exit
// status. Attach is the client's side.
//
// Nothing the client sends can choose or alter the command: the client only
// supplies bytes for its standard input and one of three signals.
//
// The command leads a process group of its own; signals go to the group.
// When Serve's context ends, the group gets SIGTERM, then SIGKILL after
// KillGrace. Serve and Attach each own the goroutines they start and wait for
// all of them before they return, whether the command ended or the context
// did; Attach interrupts blocked reads of standard input (and, when it stops
// early, writes to standard output) through their deadline methods.
package proc
