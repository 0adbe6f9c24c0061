package amqp

import "github.com/farpipe/farpipe/broker"

// SetBeforeAck makes q's Finish call f after storing a result and before
// acking its item.
func SetBeforeAck(q broker.Queue, f func()) { q.(*workQueue).beforeAck = f }
