package bench

import (
	"math"
	"slices"
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
	if c := CostNS(0.5*2, 1e6); math.Abs(c-1000) > 1e-9 {
		t.Fatalf("CostNS = %v", c)
	}
	if !math.IsNaN(CostNS(1, 0)) {
		t.Fatal("CostNS with no packets should be NaN")
	}
}

func TestBusySeconds(t *testing.T) {
	const stat = `cpu  450639 0 105490 320360 932 0 13765 0 0 0
cpu0 226138 0 54389 160853 280 0 4829 0 0 0
cpu1 224501 1 51101 159506 651 2 8935 3 7 0
intr 1 2 3
`
	got, err := BusySeconds(stat, []int{1, 0})
	if err != nil {
		t.Fatal(err)
	}
	// cpu1: user+nice+system+irq+softirq+steal, not idle or iowait (guest
	// time is already in user).
	want := []float64{float64(224501+1+51101+2+8935+3) / 100, float64(226138+54389+4829) / 100}
	if !slices.Equal(got, want) {
		t.Fatalf("BusySeconds = %v, want %v", got, want)
	}
	if _, err := BusySeconds(stat, []int{2}); err == nil {
		t.Fatal("a cpu without a line is not an error")
	}
	if _, err := BusySeconds("cpu0 1 2 x 4 5 6 7 8\n", []int{0}); err == nil {
		t.Fatal("a bad number is not an error")
	}
}

// TestNetCost: the baseline's busy time per sent packet is taken off for
// every packet the subject was sent, delivered or not, and what is left is
// divided by the packets delivered.
func TestNetCost(t *testing.T) {
	// Baseline: 0.3 of a core for 1 s dropping 100k packets: 3 µs per packet sent.
	base := Point{Kind: PointBaseline, Seconds: 1, Sent: 100e3, BusyCores: 0.3}
	// Subject: 1.2 cores for 2 s, sent 200k, delivered 198k.
	p := Point{Kind: PointCost, Seconds: 2, Sent: 200e3, Received: 198e3, BusyCores: 1.2}
	raw := CostNS(p.BusyCores*p.Seconds, p.Received)
	if want := 2.4e9 / 198e3; math.Abs(raw-want) > 1e-6 {
		t.Fatalf("raw %v, want %v", raw, want)
	}
	// 2.4 core-seconds less 200k × 3 µs = 1.8 core-seconds over 198k.
	if net, want := NetCostNS(p, base), 1.8e9/198e3; math.Abs(net-want) > 1e-6 {
		t.Fatalf("net %v, want %v", net, want)
	}
	if !math.IsNaN(NetCostNS(p, Point{})) {
		t.Fatal("net cost without a baseline should be NaN")
	}
}

func TestRateSearch(t *testing.T) {
	const capacity = 437e3
	z := RateSearch{Lo: 0, Hi: 1e6, Threshold: 0.99}
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
		{Round: 0, Subject: SubjectGovs, Figures: map[string]float64{FigRate99: 400e3, FigCost: 2000}},
		{Round: 0, Subject: SubjectKernel, Figures: map[string]float64{FigRate99: 800e3, FigCost: 1000}},
		{Round: 1, Subject: SubjectGovs, Figures: map[string]float64{FigRate99: 600e3, FigCost: 1500}},
		{Round: 1, Subject: SubjectKernel, Figures: map[string]float64{FigRate99: 600e3, FigCost: 1500}},
		{Round: 2, Subject: SubjectGovs, Err: "wrong output", Figures: map[string]float64{FigRate99: 9e9}},
		{Round: 2, Subject: SubjectKernel, Figures: map[string]float64{FigRate99: 700e3}},
	}}
	r.Summarize([]string{SubjectGovs, SubjectKernel})
	if s := r.Summary[SubjectGovs][FigRate99]; s.N != 2 || s.Median != 500e3 {
		t.Fatalf("govs zero-loss %+v (a failed round must not count)", s)
	}
	rt := r.Ratios["govs/kernel-fwd"][FigRate99]
	if rt.N != 2 || rt.Min != 0.5 || rt.Max != 1 || rt.Median != 0.75 {
		t.Fatalf("ratio %+v", rt)
	}
}

// TestRateSearchBounds: rates are recorded as offered, and the bounds stay
// ordered, so the rate found never exceeds the generator's maximum even
// when a point offered a little more than Hi or a lower point failed.
func TestRateSearchBounds(t *testing.T) {
	z := RateSearch{Lo: 0, Hi: 1e6, Threshold: 0.99}
	z.Record(1.01e6, 1) // offered a hair above the flat-out maximum
	if z.Lo != 1e6 || z.Hi != 1e6 {
		t.Fatalf("after a pass above Hi: %+v", z)
	}
	z = RateSearch{Lo: 0, Hi: 1e6, Threshold: 0.99}
	z.Record(500e3, 0.995)
	z.Record(400e3, 0.9) // noise: a lower rate failed
	if z.Lo != 500e3 || z.Hi != 500e3 {
		t.Fatalf("after a failure under Lo: %+v", z)
	}
}

func TestThreadCPUSeconds(t *testing.T) {
	const stat = "4242 (go bench (x)) R 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 1 0 100 0 0\n"
	got, err := ThreadCPUSeconds(stat)
	if err != nil || got != 1.75 {
		t.Fatalf("ThreadCPUSeconds = %v, %v; want 1.75 (150 + 25 ticks)", got, err)
	}
	if _, err := ThreadCPUSeconds("4242 (x) R 1 2"); err == nil {
		t.Fatal("a short line is not an error")
	}
}
