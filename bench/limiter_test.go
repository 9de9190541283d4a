package bench

import (
	"math"
	"testing"
	"time"
)

// TestLimiterRate drives the bucket with a simulated clock the way the
// generator does and checks the long-run rate.
func TestLimiterRate(t *testing.T) {
	for _, rate := range []float64{1e3, 5e4, 2e5, 1.3e6} {
		l := NewLimiter(rate, max(64, int(rate/1000)))
		bs := batchSize(rate)
		sent := 0
		var now int64
		const step = int64(3 * time.Microsecond)
		for now = 0; now < int64(time.Second); now += step {
			sent += l.Take(now, 64, bs)
		}
		if got := float64(sent); math.Abs(got-rate)/rate > 0.01 {
			t.Errorf("rate %v: sent %d in 1s", rate, sent)
		}
	}
}

func batchSize(rate float64) int { return min(64, max(1, int(rate*100e-6))) }

func TestLimiterBatchesAndBurst(t *testing.T) {
	l := NewLimiter(1e6, 64) // 1 token per µs
	if n := l.Take(0, 64, 1); n != 0 {
		t.Fatalf("first Take = %d, want 0 (bucket starts empty)", n)
	}
	if n := l.Take(int64(5*time.Microsecond), 64, 10); n != 0 {
		t.Fatalf("Take with 5 tokens and atLeast 10 = %d, want 0", n)
	}
	if w := l.Wait(10); w != 5*time.Microsecond {
		t.Fatalf("Wait(10) = %v, want 5µs", w)
	}
	if n := l.Take(int64(12*time.Microsecond), 64, 10); n != 12 {
		t.Fatalf("Take with 12 tokens = %d, want 12", n)
	}
	// A long stall does not let more than the burst out at once.
	if n := l.Take(int64(time.Second), 1000, 1); n != 64 {
		t.Fatalf("after a stall Take = %d, want the burst 64", n)
	}
	if n := NewLimiter(0, 1).Take(0, 64, 64); n != 64 {
		t.Fatalf("unlimited Take = %d", n)
	}
}

// Frames the socket refused for a moment are sent a moment later: the
// refunded tokens keep the long-run rate, up to what the bucket holds.
func TestLimiterRefund(t *testing.T) {
	const rate = 2e4
	l := NewLimiter(rate, 200) // 10 ms of tokens
	sent := 0
	var now int64
	const step = int64(50 * time.Microsecond)
	for now = 0; now < int64(time.Second); now += step {
		n := l.Take(now, 64, 2)
		m := n
		if (now/int64(time.Millisecond))%20 < 5 { // refused 5 ms in every 20
			m = 0
		}
		l.Refund(n - m)
		sent += m
	}
	if math.Abs(float64(sent)-rate)/rate > 0.01 {
		t.Errorf("with short refusals: sent %d in 1s, want %v", sent, rate)
	}
	// A refusal longer than the bucket holds costs the rate.
	l = NewLimiter(rate, 200)
	sent = 0
	for now = 0; now < int64(time.Second); now += step {
		n := l.Take(now, 64, 2)
		if now < int64(100*time.Millisecond) {
			l.Refund(n)
			continue
		}
		sent += n
	}
	if sent > int(0.91*rate) {
		t.Errorf("refused for 100 ms: sent %d in 1s, want at most 90%% of %v", sent, rate)
	}
	NewLimiter(0, 1).Refund(5) // unlimited: nothing to give back
}
