package balancer

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// schedMHCounts counts the lookup entries of each realserver.
func schedMHCounts(s Scheduler, n int) []int {
	st := s.(*mhSched).st.Load()
	count := make([]int, n+1) // last: empty
	for _, e := range st.lookup {
		if e == schedNoDest {
			count[n]++
		} else {
			count[e]++
		}
	}
	return count
}

// TestSchedMHTable: realservers take turns of weight/gcd (>> rshift)
// entries until all MHTableSize = 4093 are taken, so the counts follow from
// the weights alone: for 1,2,3,4 a round fills 10 entries, 409 rounds fill
// 4090 and the 410th stops after A's 1 and B's 2.
func TestSchedMHTable(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    []int
	}{
		{"1,2,3,4", []int{1, 2, 3, 4}, []int{410, 820, 1227, 1636, 0}},
		{"gcd 2", []int{2, 4, 6, 8}, []int{410, 820, 1227, 1636, 0}},
		// max/gcd = 256 has 9 bits, 3 over IP_VS_MH_TAB_BITS = 6: turns are
		// 1>>3 = 0, raised to 1, and 256>>3 = 32. Rounds of 33: 124 fill
		// 4092, then A takes the last entry.
		{"rshift", []int{1, 256}, []int{125, 3968, 0}},
		{"one", []int{7}, []int{4093, 0}},
		// Added with weight 0: no turns, no entries.
		{"added quiesced", []int{0, 1}, []int{0, 4093, 0}},
		{"none", []int{0, 0}, []int{0, 0, 4093}},
		{"empty", nil, []int{4093}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := schedNew(t, "mh", 0, schedTestDests(tt.weights...))
			got := schedMHCounts(s, len(tt.weights))
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Fatalf("entry counts = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestSchedMHWeights: sampled sources follow the weights.
func TestSchedMHWeights(t *testing.T) {
	dests := schedTestDests(1, 2, 3, 4)
	s := schedNew(t, "mh", 0, dests)
	r := rand.New(rand.NewPCG(7, 8))
	const n = 100000
	count := make([]int, len(dests))
	for range n {
		f := schedRandFlow(r)
		count[schedIndex(dests, s.Schedule(&f))]++
	}
	for i, w := range []int{1, 2, 3, 4} {
		want := n * w / 10
		if c := count[i]; c < want*92/100 || c > want*108/100 {
			t.Errorf("dest %d (weight %d): %d of %d sources, want %d±8%%", i, w, c, n, want)
		}
	}
}

// schedMHMap schedules every flow.
func schedMHMap(s Scheduler, flows []Flow) []*Dest {
	out := make([]*Dest, len(flows))
	for i := range flows {
		out[i] = s.Schedule(&flows[i])
	}
	return out
}

// TestSchedMHDisruption: Maglev's point. Removing one of N realservers moves
// about 1/N of the sources (those it had) and keeps nearly every other
// source where it was; adding one moves about 1/(N+1), mostly to it.
func TestSchedMHDisruption(t *testing.T) {
	const N, samples = 10, 30000
	r := rand.New(rand.NewPCG(9, 10))
	flows := make([]Flow, samples)
	for i := range flows {
		flows[i] = schedRandFlow(r)
	}
	all := schedTestDests(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	dests := all[:N]
	s := schedNew(t, "mh", 0, dests)
	before := schedMHMap(s, flows)

	// Remove dest 3.
	removed := dests[3]
	less := append(append([]*Dest(nil), dests[:3]...), dests[4:]...)
	s.Update(less)
	after := schedMHMap(s, flows)
	moved, stayedDest, kept := 0, 0, 0
	for i := range flows {
		if after[i] != before[i] {
			moved++
		}
		if before[i] != removed {
			stayedDest++
			if after[i] == before[i] {
				kept++
			}
		}
		if after[i] == removed || after[i] == nil {
			t.Fatalf("source mapped to %v after removal", after[i])
		}
	}
	if limit := samples/N + samples*3/100; moved > limit {
		t.Errorf("remove 1 of %d: %d of %d sources moved, want <= %d", N, moved, samples, limit)
	}
	if kept < stayedDest*97/100 {
		t.Errorf("remove: %d of %d sources of remaining realservers kept theirs, want >= 97%%", kept, stayedDest)
	}
	t.Logf("remove 1 of %d: %.2f%% moved, %.2f%% of the others kept", N,
		100*float64(moved)/samples, 100*float64(kept)/float64(stayedDest))

	// Back to N, then add an eleventh.
	s.Update(dests)
	if again := schedMHMap(s, flows); !schedEqualDests(again, before) {
		t.Fatal("restoring the list did not restore the table")
	}
	added := all[N]
	s.Update(all)
	after = schedMHMap(s, flows)
	moved, toNew := 0, 0
	for i := range flows {
		if after[i] != before[i] {
			moved++
			if after[i] == added {
				toNew++
			}
		}
	}
	if limit := samples/(N+1) + samples*3/100; moved > limit {
		t.Errorf("add 1 to %d: %d of %d sources moved, want <= %d", N, moved, samples, limit)
	}
	// Sources not taken by the new realserver keep their old one.
	if others, shuffled := samples-toNew, moved-toNew; shuffled > others*3/100 {
		t.Errorf("add: %d of %d sources not taken by the new realserver moved, want <= 3%%", shuffled, others)
	}
	t.Logf("add 1 to %d: %.2f%% moved, %.2f%% of them to the new one", N,
		100*float64(moved)/samples, 100*float64(toNew)/float64(moved))
}

func schedEqualDests(a, b []*Dest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSchedMHQuiesce: the table is built from last_weight, so a weight of 0
// leaves every entry in place. Its sources are refused (mh-fallback: sent to
// another realserver), everyone else's stay, and they all come back when the
// weight returns.
func TestSchedMHQuiesce(t *testing.T) {
	dests := schedTestDests(1, 1, 1, 1, 1)
	s := schedNew(t, "mh", 0, dests)
	fb := schedNew(t, "mh", SchedFallback, dests)
	r := rand.New(rand.NewPCG(11, 12))
	flows := make([]Flow, 5000)
	for i := range flows {
		flows[i] = schedRandFlow(r)
	}
	before := schedMHMap(s, flows)

	dests[1].SetWeight(0)
	s.Update(dests)
	fb.Update(dests)
	if c := schedMHCounts(s, len(dests)); c[1] == 0 {
		t.Fatal("quiesced realserver lost its table entries")
	}
	refused := 0
	for i := range flows {
		p, f := s.Schedule(&flows[i]), fb.Schedule(&flows[i])
		if before[i] == dests[1] {
			refused++
			if p != nil || f == nil || f == dests[1] {
				t.Fatalf("quiesced source: plain %v, fallback %v", p, f)
			}
		} else if p != before[i] || f != before[i] {
			t.Fatalf("unaffected source moved")
		}
	}
	if refused == 0 {
		t.Fatal("no source hashed to the quiesced realserver")
	}

	dests[1].SetWeight(1)
	s.Update(dests)
	if !schedEqualDests(schedMHMap(s, flows), before) {
		t.Fatal("restoring the weight did not restore the mapping")
	}

	// Removed while quiesced and added back with weight 0: last_weight
	// starts over at 0, so it gets no entries.
	dests[1].SetWeight(0)
	s.Update(append([]*Dest{dests[0]}, dests[2:]...))
	s.Update(dests)
	if c := schedMHCounts(s, len(dests)); c[1] != 0 {
		t.Fatalf("re-added quiesced realserver has %d entries, want 0", c[1])
	}
}

// TestSchedMHPermutation pins the offset and skip of one realserver: the
// kernel's hsiphash, keyed with ip_vs_mh.c's fixed secrets, of
// port + address in host order.
func TestSchedMHPermutation(t *testing.T) {
	d := NewDest(netip.MustParseAddr("203.0.113.1"), 80, MethodDR, 1)
	addr := schedAddrFold(d.Addr)
	if addr != 0xCB007101 {
		t.Fatalf("schedAddrFold = %#x", addr)
	}
	off := mhHash(addr, 80, mhKey1, 0)
	if off != schedHsiphash([]byte{0x51, 0x71, 0x00, 0xCB}, mhKey1, mhKey1) {
		t.Fatal("mhHash does not hash port+addr as a little-endian u32")
	}
	// The only realserver's first preferred entry is its offset, so a
	// source hashing there maps to it; with one realserver, all do.
	s := schedNew(t, "mh", 0, []*Dest{d})
	if e := s.(*mhSched).st.Load().lookup[off%MHTableSize]; e != 0 {
		t.Fatalf("lookup[offset] = %d", e)
	}
}

func TestSchedMHPort(t *testing.T) {
	dests := schedTestDests(1, 1, 1, 1)
	noPort := schedNew(t, "mh", 0, dests)
	port := schedNew(t, "mh", SchedPort, dests)
	f := Flow{Proto: TCP, Src: [4]byte{192, 0, 2, 1}}
	want := noPort.Schedule(&f)
	seen := map[*Dest]bool{}
	for p := range 64 {
		f.SrcPort = uint16(40000 + p)
		if d := noPort.Schedule(&f); d != want {
			t.Fatal("without mh-port the source port changed the realserver")
		}
		seen[port.Schedule(&f)] = true
	}
	if len(seen) < 3 {
		t.Errorf("mh-port spread 64 ports over %d realservers, want at least 3", len(seen))
	}
}
