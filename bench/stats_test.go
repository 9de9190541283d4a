package bench

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in             []float64
		med, min, max_ float64
		n              int
	}{
		{[]float64{3, 1, 2}, 2, 1, 3, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 4},
		{[]float64{5, math.NaN(), 7}, 6, 5, 7, 2},
		{[]float64{9}, 9, 9, 9, 1},
	} {
		s := Summarize(tc.in)
		if s.Median != tc.med || s.Min != tc.min || s.Max != tc.max_ || s.N != tc.n {
			t.Errorf("Summarize(%v) = %+v", tc.in, s)
		}
	}
	if s := Summarize([]float64{math.NaN()}); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("all NaN: %+v", s)
	}
}

func TestRatiosWithinRepetition(t *testing.T) {
	got := Ratios([]float64{100, 200, 300}, []float64{50, 0, 100})
	if got[0] != 2 || !math.IsNaN(got[1]) || got[2] != 3 {
		t.Fatalf("Ratios = %v", got)
	}
	// The median of per-round ratios, not the ratio of medians.
	if s := Summarize(Ratios([]float64{1, 10, 100}, []float64{1, 1, 100})); s.Median != 1 || s.Max != 10 {
		t.Fatalf("ratio summary %+v", s)
	}
}

func TestCostAndBusy(t *testing.T) {
	// Half a core busy for 2 s forwarding 1e6 packets: 1 µs each.
	if c := CostNS(0.5, 1, 2, 1e6); math.Abs(c-1000) > 1e-9 {
		t.Fatalf("CostNS = %v", c)
	}
	if !math.IsNaN(CostNS(0.5, 1, 2, 0)) {
		t.Fatal("CostNS with no packets should be NaN")
	}
	if b := BusyFraction(250, 1, 1000); b != 0.75 {
		t.Fatalf("BusyFraction = %v", b)
	}
	if b := BusyFraction(2000, 1, 1000); b != 0 {
		t.Fatalf("BusyFraction clamps at 0: %v", b)
	}
}

func TestZeroLossSearch(t *testing.T) {
	const capacity = 437e3
	z := ZeroLossSearch{Lo: 0, Hi: 1e6, Threshold: 0.99}
	for range 12 {
		r := z.Next()
		got := 1.0
		if r > capacity {
			got = capacity / r
		}
		z.Record(r, got)
	}
	if z.Lo > capacity/0.99 || z.Lo < capacity-1e6/4096 {
		t.Fatalf("found %v, capacity %v", z.Lo, capacity)
	}
}

func TestSummarizeResults(t *testing.T) {
	r := &Results{Rounds: []RoundResult{
		{Round: 0, Subject: SubjectGovs, Figures: map[string]float64{FigZeroLoss: 400e3, FigCost: 2000}},
		{Round: 0, Subject: SubjectKernel, Figures: map[string]float64{FigZeroLoss: 800e3, FigCost: 1000}},
		{Round: 1, Subject: SubjectGovs, Figures: map[string]float64{FigZeroLoss: 600e3, FigCost: 1500}},
		{Round: 1, Subject: SubjectKernel, Figures: map[string]float64{FigZeroLoss: 600e3, FigCost: 1500}},
		{Round: 2, Subject: SubjectGovs, Err: "wrong output", Figures: map[string]float64{FigZeroLoss: 9e9}},
		{Round: 2, Subject: SubjectKernel, Figures: map[string]float64{FigZeroLoss: 700e3}},
	}}
	r.Summarize([]string{SubjectGovs, SubjectKernel})
	if s := r.Summary[SubjectGovs][FigZeroLoss]; s.N != 2 || s.Median != 500e3 {
		t.Fatalf("govs zero-loss %+v (a failed round must not count)", s)
	}
	rt := r.Ratios["govs/kernel-fwd"][FigZeroLoss]
	if rt.N != 2 || rt.Min != 0.5 || rt.Max != 1 || rt.Median != 0.75 {
		t.Fatalf("ratio %+v", rt)
	}
}
