package balancer

import "testing"

func TestSchedRR(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		n       int
		want    string
	}{
		{"equal", []int{1, 1, 1}, 7, "ABCABCA"},
		{"weights ignored", []int{5, 1, 3}, 6, "ABCABC"},
		{"skips weight 0", []int{1, 0, 1, 1}, 7, "ACDACDA"},
		{"first quiesced", []int{0, 2, 2}, 5, "BCBCB"},
		{"only one", []int{0, 0, 7}, 3, "CCC"},
		{"all quiesced", []int{0, 0}, 3, "---"},
		{"empty", nil, 2, "--"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dests := schedTestDests(tt.weights...)
			s := schedNew(t, "rr", 0, dests)
			if got := schedPicks(s, dests, tt.n); got != tt.want {
				t.Errorf("schedPicks = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSchedRRLiveWeight: weights are read at Schedule time, and a failed
// scan leaves the cursor where it was.
func TestSchedRRLiveWeight(t *testing.T) {
	dests := schedTestDests(1, 1, 1)
	s := schedNew(t, "rr", 0, dests)
	if got := schedPicks(s, dests, 2); got != "AB" {
		t.Fatalf("schedPicks = %s, want AB", got)
	}
	for _, d := range dests {
		d.SetWeight(0)
	}
	if got := schedPicks(s, dests, 2); got != "--" {
		t.Fatalf("all quiesced: schedPicks = %s, want --", got)
	}
	for _, d := range dests {
		d.SetWeight(1)
	}
	if got := schedPicks(s, dests, 4); got != "CABC" {
		t.Fatalf("after unquiesce: schedPicks = %s, want CABC", got)
	}
}

// TestSchedRRUpdateCursor: the cursor stays on its realserver across an
// update, and when that realserver is removed it moves back to the previous
// one that stayed (ip_vs_rr_del_dest), so the rotation carries on.
func TestSchedRRUpdateCursor(t *testing.T) {
	a := schedTestDests(1, 1, 1, 1, 1)
	A, B, C, D, E := a[0], a[1], a[2], a[3], a[4]
	s := schedNew(t, "rr", 0, []*Dest{A, B, C, D})
	if got := schedPicks(s, a, 3); got != "ABC" {
		t.Fatalf("schedPicks = %s, want ABC", got)
	}
	// Cursor on C. Append E: C is still there, next is D.
	s.Update([]*Dest{A, B, C, D, E})
	if got := schedPicks(s, a, 1); got != "D" {
		t.Fatalf("after add: pick = %s, want D", got)
	}
	// Cursor on D. Remove C and D: back to B, so next is E.
	s.Update([]*Dest{A, B, E})
	if got := schedPicks(s, a, 4); got != "EABE" {
		t.Fatalf("after remove: schedPicks = %s, want EABE", got)
	}
	// Cursor on E. Replace the list by D alone: neither E nor anything
	// before it stayed, so the cursor goes to the head.
	s.Update([]*Dest{D})
	if got := schedPicks(s, a, 2); got != "DD" {
		t.Fatalf("after replace: schedPicks = %s, want DD", got)
	}
}
