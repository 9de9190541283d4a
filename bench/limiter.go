package bench

import "time"

// Limiter is a token bucket that the generator asks, once per batch, how
// many frames it may send now. Time is passed in (nanoseconds on any
// monotonic clock), so it is tested without sleeping. Rate 0 means no limit.
type Limiter struct {
	rate   float64 // tokens per nanosecond
	burst  float64
	tokens float64
	last   int64
	primed bool
}

// NewLimiter returns a bucket of rate packets per second that holds at
// most burst tokens (a batch: the bucket never lets a backlog pile up).
func NewLimiter(pps float64, burst int) *Limiter {
	return &Limiter{rate: pps / 1e9, burst: float64(max(burst, 1))}
}

// Take returns how many of want frames may go at time now (0..want) and
// takes their tokens; it returns 0 while fewer than atLeast tokens are there,
// so that frames leave in batches of at least atLeast (but a generator that
// fell behind catches up with batches of up to want).
func (l *Limiter) Take(now int64, want, atLeast int) int {
	if l.rate == 0 {
		return want
	}
	if !l.primed {
		l.primed, l.last, l.tokens = true, now, 0
	}
	if now > l.last {
		l.tokens += float64(now-l.last) * l.rate
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
		l.last = now
	}
	if l.tokens < float64(atLeast) {
		return 0
	}
	n := min(want, int(l.tokens))
	l.tokens -= float64(n)
	return n
}

// Refund gives back k tokens that Take granted but the socket did not
// send (its buffer was full), so that frames refused for a moment are
// sent a moment later instead of taking the rate down with them. The
// bucket still holds at most burst tokens: a refusal that lasts longer
// than the bucket holds loses the rate, and the point shows it.
func (l *Limiter) Refund(k int) {
	if l.rate == 0 || k <= 0 {
		return
	}
	l.tokens = min(l.tokens+float64(k), l.burst)
}

// Wait is how long from the last Take until want tokens are there.
func (l *Limiter) Wait(want int) time.Duration {
	if l.rate == 0 || l.tokens >= float64(want) {
		return 0
	}
	return time.Duration((float64(want) - l.tokens) / l.rate)
}
