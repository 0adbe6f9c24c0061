//go:build !unix

package relay

// lockStore does nothing where there is no flock: keep one relay per store.
func lockStore(string) (unlock func(), err error) { return func() {}, nil }
