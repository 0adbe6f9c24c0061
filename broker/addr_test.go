package broker

import "testing"

// TestRedact: the login of a stream address is hidden in messages, and an
// '@' in its path is not a login.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://tok@relay:4222/logs":  "nats://***@relay:4222/logs",
		"kafka://u:p@a:1,b:2/t":       "kafka://***@a:1,b:2/t",
		"kafka://a:1,b:2/t":           "kafka://a:1,b:2/t",
		"nats://relay/s@x":            "nats://relay/s@x",
		"nats://u@relay/s@x":          "nats://***@relay/s@x",
		"amqp://u:p@r@h/vh/q?x=1":     "amqp://***@h/vh/q?x=1",
		"not an address, no scheme@x": "not an address, no scheme@x",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
