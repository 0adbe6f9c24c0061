package proc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Status is how a command ended.
type Status struct {
	Code   int            // exit code, when it exited
	Signal syscall.Signal // the signal that killed it, or 0
}

// ExitCode is the status as a shell reports it: the exit code, or 128+N
// for a command killed by signal N.
func (s Status) ExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

func (s Status) String() string {
	if s.Signal != 0 {
		return "killed by signal " + strconv.Itoa(int(s.Signal))
	}
	return "exit status " + strconv.Itoa(s.Code)
}

// statusOf turns what exec.Cmd.Wait returned into a Status.
func statusOf(ps *os.ProcessState) Status {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Status{Signal: ws.Signal()}
	}
	return Status{Code: ps.ExitCode()}
}

// Control messages are short text lines on the Ctl channel:
//
//	client -> server: "signal N"   deliver signal N (2, 15 or 1) to the command
//	server -> client: "exit N"     the command exited with code N
//	server -> client: "killed N"   the command was killed by signal N
const maxLine = 64

// forwarded are the only signals a client may deliver to the command.
var forwarded = map[syscall.Signal]bool{syscall.SIGINT: true, syscall.SIGTERM: true, syscall.SIGHUP: true}

func writeStatus(w io.Writer, s Status) error {
	var err error
	if s.Signal != 0 {
		_, err = fmt.Fprintf(w, "killed %d\n", int(s.Signal))
	} else {
		_, err = fmt.Fprintf(w, "exit %d\n", s.Code)
	}
	return err
}

// readLines calls f with each control line from r, ignoring overlong ones.
func readLines(r io.Reader, f func(verb string, n int)) error {
	br := bufio.NewReaderSize(r, 256)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			for err == bufio.ErrBufferFull { // skip the rest of an overlong line
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if len(line) > maxLine {
			continue
		}
		verb, num, ok := strings.Cut(strings.TrimSpace(string(line)), " ")
		n, nerr := strconv.Atoi(num)
		if ok && nerr == nil && n >= 0 && n < 256 {
			f(verb, n)
		}
	}
}
