package nats

// SetTestHook makes every connection message go through h instead of
// straight to the relay; nil restores that. h gets the message (valid only
// during the call) and the function that publishes it.
func SetTestHook(h func(msg []byte, publish func([]byte) error) error) {
	if h == nil {
		testHook.Store(nil)
		return
	}
	testHook.Store(&h)
}

// Kinds of connection messages, for hooks.
const (
	KindData   = kindData
	KindCredit = kindCredit
)
