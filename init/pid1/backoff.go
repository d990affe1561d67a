package pid1

import "time"

// Backoff spaces out restarts of a process that keeps dying: Min after the
// first exit, doubling up to Max, and back to Min once a run lasted Reset.
type Backoff struct {
	Min, Max, Reset time.Duration
	next            time.Duration
}

// Next returns how long to wait before the next start, given how long the
// run that just ended lasted.
func (b *Backoff) Next(ran time.Duration) time.Duration {
	if b.next == 0 || ran >= b.Reset {
		b.next = b.Min
	}
	d := b.next
	b.next *= 2
	if b.next > b.Max {
		b.next = b.Max
	}
	return d
}
