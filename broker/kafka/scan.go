package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// scanIdle is how long a scan waits for a record that should be there
// before it takes the partition to end earlier (offsets missing at the end,
// which topics of farpipe never have: no compaction, no transactions).
const scanIdle = 10 * time.Second

// scan reads the records at offsets from to to-1 (fewer when the partition
// has gaps) and calls fn with each, in order, until fn returns false.
func (s *Stream) scan(ctx context.Context, from, to int64, fn func(*kgo.Record) bool) error {
	if from >= to {
		return nil
	}
	cl, err := kgo.NewClient(append(s.addr.options(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.addr.Topic: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxBytes(FetchMaxBytes), kgo.FetchMaxPartitionBytes(FetchMaxBytes),
		kgo.FetchMaxWait(500*time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("farpipe: Kafka client for %s: %w", s.addr, err)
	}
	defer cl.Close()
	next := from
	for next < to {
		pctx, cancel := context.WithTimeout(ctx, scanIdle)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if err := fetchErr(fs); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil // no more records: the end has gaps
			}
			return fmt.Errorf("farpipe: reading Kafka topic %s: %w", s.addr.Topic, err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Offset >= to {
				return nil
			}
			next = r.Offset + 1
			if !fn(r) {
				return nil
			}
		}
	}
	return nil
}

// fetchErr is the first error of fetches.
func fetchErr(fs kgo.Fetches) error {
	for _, e := range fs.Errors() {
		return e.Err
	}
	return nil
}
