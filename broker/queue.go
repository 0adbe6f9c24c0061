package broker

// Work queues: a producer puts work items on a queue and collects their
// results; any number of workers take items, one per free slot, and store a
// result for each.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// A Queue is a work queue on a broker. Items put by a Submission are taken
// by workers (Take) anywhere; each item is given to one worker at a time
// and given again to another when its worker neither finishes it nor shows
// progress within QueueOptions.AckWait, so an item may run more than once:
// a Submission hands out the first result of each item only.
type Queue interface {
	// Submit starts a run of items: the Submission puts them on the queue
	// and collects their results. Close it when done.
	Submit(ctx context.Context) (Submission, error)
	// Take waits for an item and returns it; the worker that took it
	// must Finish it or GiveBack. Writes of the Work's output and Finish
	// use ctx as well.
	Take(ctx context.Context) (Work, error)
	// MaxItem is the largest WorkItem.Data the queue takes, in bytes.
	MaxItem() int
	// Close releases the queue's connection.
	Close() error
}

// A WorkItem is one unit of work.
type WorkItem struct {
	ID   string            // unique within its Submission
	Meta map[string]string // small key/value pairs for the worker (keys: letters, digits, '-')
	Data []byte
}

// A Submission is one producer's run on a queue: its items and their
// results, apart from every other run's.
type Submission interface {
	// Put puts an item on the queue; it returns once the broker has
	// stored it.
	Put(ctx context.Context, item WorkItem) error
	// Result waits for the first result of the item put with id, once.
	// Later results of the same item (it ran twice) are dropped.
	Result(ctx context.Context, id string) (*WorkResult, error)
	// Close removes what is left of the run on the broker: items not yet
	// taken, results not collected.
	Close() error
}

// WorkStatus is how a worker's command ended.
type WorkStatus struct {
	Code int    // exit status: 0 success; 128+N killed by signal N
	Note string // one line for messages: what failed, the last lines of standard error
}

// A WorkResult is a worker's answer to an item.
type WorkResult struct {
	ID     string
	Status WorkStatus
	Worker string        // who ran it: host and process
	Output io.ReadCloser // the command's output; Close it (it frees the broker's copy)
}

// Work is an item taken by a worker. Write the output (io.Writer: it may
// be stored in parts as it comes, so memory stays bounded), then Finish; or
// GiveBack. Progress keeps the item from going to another worker while its
// command runs.
type Work interface {
	io.Writer
	Item() WorkItem
	// Progress tells the broker the item is still being worked on.
	Progress() error
	// Finish stores the output written and status as the item's result,
	// and only then takes the item off the queue.
	Finish(ctx context.Context, st WorkStatus) error
	// GiveBack puts the item back on the queue for another worker.
	GiveBack() error
}

// QueueOptions tune a queue when it is opened.
type QueueOptions struct {
	// AckWait is how long a taken item may go without progress before it
	// is given to another worker (0: the driver's default). Workers set
	// it on the queue; a producer's value is ignored.
	AckWait time.Duration
	// Worker names this process in results (0 value: host and pid).
	Worker string
	// Replicas is how many copies of the queue a broker cluster keeps
	// when this opening creates it (0: one).
	Replicas int
	// Slots is how many items the worker runs at once (its -j): a driver
	// whose broker pushes items (RabbitMQ's prefetch) lets a worker hold
	// at most that many taken and not finished (0: one).
	Slots int
}

// QueueOpener opens the queue at addr for a driver.
type QueueOpener func(ctx context.Context, addr string, opts QueueOptions) (Queue, error)

// ErrQueueScheme: no queue driver is registered for an address's scheme.
var ErrQueueScheme = errors.New("farpipe: no work-queue driver for this address")

var (
	queueMu      sync.RWMutex
	queueDrivers = map[string]QueueOpener{}
)

// RegisterQueue makes open the driver of queue addresses SCHEME://...;
// drivers call it from init. It panics on a scheme registered twice.
func RegisterQueue(scheme string, open QueueOpener) {
	queueMu.Lock()
	defer queueMu.Unlock()
	scheme = strings.ToLower(scheme)
	if _, dup := queueDrivers[scheme]; dup {
		panic("broker: RegisterQueue called twice for scheme " + scheme)
	}
	queueDrivers[scheme] = open
}

// QueueScheme reports whether addr has the scheme of a registered queue
// driver.
func QueueScheme(addr string) bool {
	_, ok := queueDriver(addr)
	return ok
}

func queueDriver(addr string) (QueueOpener, bool) {
	scheme, _, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, false
	}
	queueMu.RLock()
	defer queueMu.RUnlock()
	open, ok := queueDrivers[strings.ToLower(scheme)]
	return open, ok
}

// OpenQueue opens the queue at addr with the driver of its scheme.
func OpenQueue(ctx context.Context, addr string, opts QueueOptions) (Queue, error) {
	open, ok := queueDriver(addr)
	if !ok {
		queueMu.RLock()
		var names []string
		for s := range queueDrivers {
			names = append(names, s+"://")
		}
		queueMu.RUnlock()
		sort.Strings(names)
		scheme, _, _ := strings.Cut(addr, "://")
		return nil, fmt.Errorf("%w: %q: use one of %s", ErrQueueScheme, scheme+"://", strings.Join(names, ", "))
	}
	return open(ctx, addr, opts)
}
