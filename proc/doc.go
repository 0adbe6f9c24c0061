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
package proc
