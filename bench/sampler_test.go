package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestSampleEveryFor(t *testing.T) {
	for _, tc := range []struct {
		rate, secs float64
		want       int
	}{
		{0, 1, maxSampleEvery},     // flat out: unknown count
		{1e3, 1, 1},                // fewer frames than the target: all of them
		{20e3, 0.5, 19},            // 10000 frames: about sampleTarget pass
		{150e3, 1, 292},            // the default cost window
		{100e6, 1, maxSampleEvery}, // capped
	} {
		if got := sampleEveryFor(tc.rate, tc.secs); got != tc.want {
			t.Errorf("sampleEveryFor(%v, %v) = %d, want %d", tc.rate, tc.secs, got, tc.want)
		}
	}
	if sampleThreshold(1) != 0xffffffff || sampleThreshold(2) != 0x7fffffff {
		t.Errorf("thresholds %#x %#x", sampleThreshold(1), sampleThreshold(2))
	}
}

// TestReservoirUniform: every frame of a point has the same chance of being
// kept, not only the first maxSamples.
func TestReservoirUniform(t *testing.T) {
	const n, trials = 4 * maxSamples, 400
	kept := make([]int, n)
	r := newReservoir(1)
	f := BuildFrame(make([]byte, 128), KindUDP, [4]byte{192, 0, 2, 9}, 4000, 64)
	for range trials {
		for i := range n {
			f[len(f)-1], f[len(f)-2] = byte(i), byte(i>>8) // the frame's number in its payload
			r.add(f)
		}
		s := r.take()
		if len(s.Frames) != maxSamples || s.Seen != n || s.Other != 0 {
			t.Fatalf("kept %d of %d (other %d)", len(s.Frames), s.Seen, s.Other)
		}
		for _, g := range s.Frames {
			kept[int(g[len(g)-1])|int(g[len(g)-2])<<8]++
		}
	}
	// Each frame is kept with probability maxSamples/n = 1/4: 100 of 400
	// trials; compare the first and last quarters of the stream.
	var first, last int
	for i := range n / 4 {
		first += kept[i]
		last += kept[n-1-i]
	}
	want := trials * maxSamples / 4
	for _, got := range []int{first, last} {
		if got < want*9/10 || got > want*11/10 {
			t.Fatalf("first quarter kept %d times, last %d, want about %d each", first, last, want)
		}
	}
}

func TestReservoirOther(t *testing.T) {
	r := newReservoir(1)
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06
	ip := BuildFrame(make([]byte, 128), KindUDP, [4]byte{192, 0, 2, 9}, 4000, 64)
	r.add(ip)
	r.add(arp)
	r.add([]byte{1, 2, 3}) // runt
	s := r.take()
	if s.Seen != 3 || s.Other != 2 || len(s.Frames) != 1 || s.FirstOther[13] != 0x06 {
		t.Fatalf("sample %+v", s)
	}
	if s := r.take(); s.Seen != 0 || len(s.Frames) != 0 || s.FirstOther != nil {
		t.Fatalf("take did not start afresh: %+v", s)
	}
}

func TestVerdict(t *testing.T) {
	udp := BuildFrame(make([]byte, 128), KindUDP, [4]byte{192, 0, 2, 9}, 4000, 64)
	good := asForwarded(udp, RSMACs[0])
	exp := ExpectFor(SubjectGovs, ModeDR)
	ipv6 := append([]byte(nil), good...)
	ipv6[12], ipv6[13] = 0x86, 0xdd
	for _, tc := range []struct {
		name    string
		p       Point
		s       Sample
		want    string // "" = passes
		checked int
	}{
		{"ok", Point{Sent: 1000, Received: 990, Late: 5, SampleEvery: 1}, Sample{Frames: [][]byte{good, good}, Seen: 2}, "", 2},
		{"more than sent", Point{Sent: 1000, Received: 999, Late: 2, SampleEvery: 1}, Sample{Frames: [][]byte{good}, Seen: 1}, "more than the 1000 sent", 0},
		{"not IPv4", Point{Sent: 1000, Received: 10, SampleEvery: 1}, Sample{Frames: [][]byte{good}, Seen: 2, Other: 1, FirstOther: ipv6}, "1 frames that are not IPv4", 0},
		{"wrong output", Point{Sent: 1000, Received: 10, SampleEvery: 1}, Sample{Frames: [][]byte{good, udp}, Seen: 2}, "wrong output", 1},
		{"nothing sampled", Point{Sent: 100000, Received: 100000, SampleEvery: 100}, Sample{}, "none was sampled", 0},
		{"too few to sample", Point{Sent: 100000, Received: 500, SampleEvery: 100}, Sample{}, "", 0},
		{"nothing arrived", Point{Sent: 1000, SampleEvery: 1}, Sample{}, "", 0},
	} {
		p := tc.p
		err := tc.s.Verdict(&p, exp)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		case p.Checked != tc.checked || p.Sampled != tc.s.Seen:
			t.Errorf("%s: checked %d sampled %d, want %d and %d", tc.name, p.Checked, p.Sampled, tc.checked, tc.s.Seen)
		}
	}
}

func TestShortfall(t *testing.T) {
	for _, tc := range []struct {
		kind         string
		req, offered float64
		short        bool
	}{
		{PointMax, 0, 5e5, false},            // flat out: nothing was requested
		{PointSearch, 100e3, 100.1e3, false}, // a hair over
		{PointSearch, 100e3, 98e3, false},    // exactly 2% short
		{PointSearch, 100e3, 97.9e3, true},   // more than 2% short
		{PointOverload, 100e3, 97.9e3, true},
		{PointCost, 100e3, 90e3, false}, // metered windows: up to 12% short
		{PointBaseline, 100e3, 88e3, false},
		{PointRate, 100e3, 87.9e3, true},
	} {
		err := Point{Kind: tc.kind, Requested: tc.req, Offered: tc.offered}.Shortfall()
		if (err != nil) != tc.short || err != nil && !errors.Is(err, errShortfall) {
			t.Errorf("%s: requested %v offered %v: %v, want short %v", tc.kind, tc.req, tc.offered, err, tc.short)
		}
	}
}
