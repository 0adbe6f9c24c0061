package main

import (
	"context"
	"io"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/farpipe/farpipe/internal/ratelimit"
)

// rateFlag is --rate-limit of send, tee and pub.
type rateFlag struct{ s string }

func (r *rateFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.s, "rate-limit", "", "read standard input at most this fast, e.g. 10MB/s or 50MiB/s (MB = 1000², MiB = 1024²)")
}

// check validates the flag and returns the rate in bytes per second (0:
// no limit).
func (r *rateFlag) check() (float64, error) {
	if r.s == "" {
		return 0, nil
	}
	bps, err := ratelimit.Parse(r.s)
	if err != nil {
		return 0, usagef("--rate-limit %q: give bytes per second from 1B/s, such as 10MB/s or 50MiB/s", r.s)
	}
	return bps, nil
}

// reader paces in to the rate, if one is given (check first).
func (r *rateFlag) reader(ctx context.Context, in io.Reader) io.Reader {
	bps, _ := r.check()
	if bps == 0 {
		return in
	}
	return &ratelimit.Reader{Ctx: ctx, R: in, L: ratelimit.New(bps)}
}

// label is what the progress line shows, in its binary units: "limit
// 9.5 MiB/s" for 10MB/s, or "".
func (r *rateFlag) label() string {
	if bps, _ := r.check(); bps > 0 {
		return "limit " + humanize.IBytes(uint64(bps)) + "/s"
	}
	return ""
}
