package farpipe_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/farpipe/farpipe"
)

// TestCloseReadWithError: the reason a reading Conn gives reaches the
// writer's broken pipe.
func TestCloseReadWithError(t *testing.T) {
	c1, c2, stop, err := makePipe(t)()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	const reason = "the receiver could not write its output: no space left on device"
	c2.(*farpipe.Conn).CloseReadWithError(errors.New(reason))
	for err == nil {
		_, err = c1.Write(bytes.Repeat([]byte{'x'}, 1<<16))
	}
	var bp *farpipe.BrokenPipeError
	if !errors.As(err, &bp) || !errors.Is(err, farpipe.ErrBrokenPipe) {
		t.Fatalf("got %v, want a broken pipe", err)
	}
	if bp.Reason != reason || !strings.Contains(err.Error(), reason) {
		t.Fatalf("got %q, want the reason %q", err, reason)
	}
}

// TestEncryptionMismatch: when one side encrypts and the other does not,
// both say so with ErrEncryption, whichever side listens.
func TestEncryptionMismatch(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name           string
		listen, dialer []farpipe.Option
	}{
		{"the listener does not encrypt", []farpipe.Option{farpipe.WithNoEncrypt()}, nil},
		{"the dialer does not encrypt", nil, []farpipe.Option{farpipe.WithNoEncrypt()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			lerr := make(chan error, 10)
			lopts := append([]farpipe.Option{farpipe.WithToken(token), farpipe.WithErrorLog(func(err error) {
				select {
				case lerr <- err:
				default:
				}
			})}, tc.listen...)
			ln, err := farpipe.Listen(ctx, "127.0.0.1:0", lopts...)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			acc := make(chan error, 1)
			go func() {
				c, err := ln.Accept(ctx)
				if c != nil {
					c.Abort("unexpected")
				}
				acc <- err
			}()
			dopts := append([]farpipe.Option{farpipe.WithToken(token)}, tc.dialer...)
			c, err := farpipe.Dial(ctx, ln.Addr().String(), dopts...)
			if c != nil {
				c.Abort("unexpected")
			}
			if !errors.Is(err, farpipe.ErrEncryption) || !errors.Is(err, farpipe.ErrProtocol) {
				t.Errorf("dialer: %v, want ErrEncryption", err)
			}
			select { // the listener reports handshake failures to its log
			case err := <-lerr:
				if !errors.Is(err, farpipe.ErrEncryption) {
					t.Errorf("listener: %v, want ErrEncryption", err)
				}
			case <-ctx.Done():
				t.Error("the listener reported nothing")
			}
			cancel()
			<-acc
		})
	}
}
