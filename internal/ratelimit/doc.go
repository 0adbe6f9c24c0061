// Package ratelimit paces a byte stream: a Reader or Writer that lets
// bytes through at most at a given rate, for farpipe's --rate-limit.
//
// The pace comes from a token bucket (golang.org/x/time/rate) whose bucket
// holds one burst: a small slice of a second's worth of bytes (Burst), never
// seconds of data. A Reader reads at most one burst at a time and waits for
// its tokens before returning the bytes; a Writer waits for each burst-sized
// piece before writing it. So what leaves the Reader or Writer never runs
// ahead of the rate by more than one burst, and over any long span its rate
// is the limit's.
//
// Waits end early when the context is cancelled. The package starts no
// goroutines; a Limiter is safe for concurrent use (several writers then
// share one limit).
package ratelimit
