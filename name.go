package farpipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode"
	"unicode/utf8"
)

// nameChannel carries the name a side gives itself with SendName: a few
// bytes of UTF-8 text and the end of the channel, nothing else.
const nameChannel = 3

// MaxNameLen is the longest name SendName sends, in bytes.
const MaxNameLen = 200

// ErrBadName: a name is too long or not printable text.
var ErrBadName = errors.New("farpipe: a name must be at most 200 bytes of printable UTF-8 text")

// CheckName returns ErrBadName if SendName would refuse name.
func CheckName(name string) error {
	if len(name) > MaxNameLen || !utf8.ValidString(name) {
		return ErrBadName
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return ErrBadName
		}
	}
	return nil
}

// SendName tells the peer what to call this side, for the peer's messages
// and labels (farpipe merge --label): it writes name on a channel of its
// own and closes that channel. An empty name asks the peer to use this
// side's address. Call it once, right after Dial or Accept: a peer waiting
// in PeerName reads nothing else until it arrives.
func (c *Conn) SendName(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	st := c.Channel(nameChannel)
	if _, err := io.WriteString(st, name); err != nil {
		return err
	}
	return st.CloseWrite()
}

// PeerName waits for the name the peer sent with SendName and returns it,
// or "" if the peer sent an empty one. A peer that never calls SendName
// makes it wait until ctx ends (its error is then returned) or the peer
// closes the connection (""). A name that is not printable text fails
// with ErrBadName.
func (c *Conn) PeerName(ctx context.Context) (string, error) {
	st := c.Channel(nameChannel)
	stop := context.AfterFunc(ctx, func() { st.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(st, MaxNameLen+1))
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", err
	}
	st.CloseRead()
	if err := CheckName(string(b)); err != nil {
		return "", fmt.Errorf("%w; the peer sent %d bytes", err, len(b))
	}
	return string(b), nil
}
