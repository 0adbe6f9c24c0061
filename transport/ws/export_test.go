package ws

// ParseAddr exposes parseAddr to the tests.
func ParseAddr(scheme, raw string) (url, hostPort, path, ca, cert, key string, err error) {
	a, err := parseAddr(scheme, raw)
	return a.url(), a.hostPort, a.path, a.ca, a.cert, a.key, err
}

// Drop closes the connection under c's WebSocket, as a crash or a proxy
// that dies would.
func Drop(c interface{ Close() error }) { c.(*conn).under.Close() }
