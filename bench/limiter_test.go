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
