package balancer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Sequences worked out by hand from ip_vs_wrr_schedule. For weights 4,3,2:
// di = 1, mw = 4; passes with cw = 4, 3, 2, 1 pick {A}, {A,B}, {A,B,C},
// {A,B,C}: AABABCABC, then cw wraps to mw and the cycle repeats.
func TestSchedWRR(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		n       int
		want    string
	}{
		{"4,3,2", []int{4, 3, 2}, 18, "AABABCABC" + "AABABCABC"},
		{"equal", []int{1, 1, 1}, 6, "ABCABC"},
		// di = 2, mw = 4-(2-1) = 3: passes cw = 3, 1.
		{"gcd 2", []int{4, 0, 2}, 9, "AAC" + "AAC" + "AAC"},
		// di = 3, mw = 9-2 = 7: passes cw = 7, 4, 1.
		{"gcd 3", []int{3, 9, 6}, 12, "BBCABC" + "BBCABC"},
		{"2,1,1", []int{2, 1, 1}, 8, "AABC" + "AABC"},
		{"one", []int{0, 5, 0}, 3, "BBB"},
		{"all quiesced", []int{0, 0, 0}, 3, "---"},
		{"empty", nil, 2, "--"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dests := schedTestDests(tt.weights...)
			s := schedNew(t, "wrr", 0, dests)
			if got := schedPicks(s, dests, tt.n); got != tt.want {
				t.Errorf("schedPicks = %s, want %s", got, tt.want)
			}
		})
	}
}

// schedWRROracle is the WRR algorithm as the comment of ip_vs_wrr.c states it,
// for weights that do not change: passes with cw = mw-(di-1), then di less
// each pass while cw > 0, each picking, in list order, the realservers with
// weight >= cw.
func schedWRROracle(weights []int, n int) string {
	g, mx := 0, 0
	for _, w := range weights {
		if w > 0 {
			if g == 0 {
				g = w
			} else {
				g = schedGCD(w, g)
			}
		}
		mx = max(mx, w)
	}
	if g == 0 {
		return strings.Repeat("-", n)
	}
	var b strings.Builder
	for b.Len() < n {
		for cw := mx - (g - 1); cw > 0 && b.Len() < n; cw -= g {
			for i, w := range weights {
				if w >= cw && b.Len() < n {
					b.WriteByte(byte('A' + i))
				}
			}
		}
	}
	return b.String()
}

func TestSchedWRROracle(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		weights := make([]int, 1+r.IntN(8))
		for i := range weights {
			weights[i] = r.IntN(5) * (1 + r.IntN(3)) // zeros and shared factors
		}
		dests := schedTestDests(weights...)
		s := schedNew(t, "wrr", 0, dests)
		n := 0
		for _, w := range weights {
			n += w
		}
		n = 3*n + 5
		if got, want := schedPicks(s, dests, n), schedWRROracle(weights, n); got != want {
			t.Fatalf("weights %v:\n got %s\nwant %s", weights, got, want)
		}
	}
}

// TestSchedWRRUpdate: an update puts the cursor back at the list head and
// keeps cw when it still fits (ip_vs_wrr_dest_changed).
func TestSchedWRRUpdate(t *testing.T) {
	dests := schedTestDests(4, 3, 2)
	s := schedNew(t, "wrr", 0, dests)
	if got := schedPicks(s, dests, 4); got != "AABA" {
		t.Fatalf("schedPicks = %s, want AABA", got)
	}
	// cw = 2 now, cursor on A. Same weights again: cursor to the head,
	// cw stays 2, so the pass for cw = 2 starts over from A.
	s.Update(dests)
	if got := schedPicks(s, dests, 8); got != "ABCABC"+"AA" {
		t.Fatalf("after update: schedPicks = %s, want ABCABCAA", got)
	}
	// cw = 3 now. Lower the maximum to 2: cw > mw, so cw = mw = 2.
	dests[0].SetWeight(2)
	dests[1].SetWeight(2)
	s.Update(dests)
	if got := schedPicks(s, dests, 6); got != "ABCABC" {
		t.Fatalf("after lowering: schedPicks = %s, want ABCABC", got)
	}
	// Weights 2, 2, 2 (di = 2, mw = 1): every pass is for weight >= 1.
	if got := schedPicks(s, dests, 1); got != "A" {
		t.Fatalf("pick = %s, want A", got)
	}

	// Back to 4, 3, 2 and cw = 2. Weights 4, 2, 6 (di = 2, mw = 5): cw is
	// rounded to (2/2)*2+1 = 3, so the next pass picks weight >= 3, then
	// weight >= 1, then the cycle restarts at 5.
	dests = schedTestDests(4, 3, 2)
	s = schedNew(t, "wrr", 0, dests)
	if got := schedPicks(s, dests, 4); got != "AABA" {
		t.Fatalf("schedPicks = %s, want AABA", got)
	}
	dests[1].SetWeight(2)
	dests[2].SetWeight(6)
	s.Update(dests)
	if got := schedPicks(s, dests, 9); got != "AC"+"ABC"+"C"+"AC"+"A" {
		t.Fatalf("after regcd: schedPicks = %s, want ACABCCACA", got)
	}
}

// TestSchedWRRLiveWeight: a weight set to 0 after Update is never picked,
// and a weight lowered below di is still caught by the last pass.
func TestSchedWRRLiveWeight(t *testing.T) {
	dests := schedTestDests(4, 2)
	s := schedNew(t, "wrr", 0, dests) // di = 2, mw = 3: passes 3, 1
	dests[0].SetWeight(0)
	if got := schedPicks(s, dests, 3); got != "BBB" {
		t.Fatalf("schedPicks = %s, want BBB", got)
	}
	dests[1].SetWeight(1) // below di
	if got := schedPicks(s, dests, 2); got != "BB" {
		t.Fatalf("schedPicks = %s, want BB", got)
	}
	dests[1].SetWeight(0)
	if got := schedPicks(s, dests, 2); got != "--" {
		t.Fatalf("schedPicks = %s, want --", got)
	}
}
