//go:build linux

package main

import "testing"

func TestWatch(t *testing.T) {
	for _, c := range []struct {
		name   string
		writes []string
		want   bool
	}{
		{"one write", []string{"Sending 'data'\nCode is: 1-a-b\n"}, true},
		{"split across writes", []string{"progress… Co", "de", " is: x"}, true},
		{"absent", []string{"Sending 'data'", "Code i", "t was"}, false},
		{"after much output", []string{string(make([]byte, 10000)), "Code is"}, true},
	} {
		w := newWatch("Code is")
		for _, s := range c.writes {
			if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
				t.Fatalf("%s: Write = %d, %v", c.name, n, err)
			}
		}
		got := false
		select {
		case <-w.seen:
			got = true
		default:
		}
		if got != c.want {
			t.Errorf("%s: seen = %v, want %v", c.name, got, c.want)
		}
	}
}
