package balancer

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestSchedSHHash(t *testing.T) {
	// hash_32(v, 8) = (v * 0x61C88647) >> 24, worked out by hand.
	tests := []struct {
		addr   uint32
		port   uint16
		offset uint32
		want   uint32
	}{
		{0, 0, 0, 0},
		{0xC0000201, 0, 0, 50},      // 192.0.2.1
		{0xC0000202, 0, 0, 148},     // 192.0.2.2
		{0xC0000201, 40000, 0, 214}, // with sh-port: port + addr
		{0xC0000201, 0, 250, 44},    // (250 + 50) & 255
	}
	for _, tt := range tests {
		if got := shHash(tt.addr, tt.port, tt.offset); got != tt.want {
			t.Errorf("shHash(%#x, %d, %d) = %d, want %d", tt.addr, tt.port, tt.offset, got, tt.want)
		}
	}
}

// TestSchedSHTable: ip_vs_sh_reassign gives each realserver weight
// consecutive buckets, in rounds; a weight-0 realserver still takes one.
func TestSchedSHTable(t *testing.T) {
	dests := schedTestDests(2, 1, 0)
	s := schedNew(t, "sh", 0, dests).(*shSched)
	st := s.st.Load()
	want := []uint16{0, 0, 1, 2, 0, 0, 1, 2}
	for i, w := range want {
		if st.buckets[i] != w {
			t.Fatalf("buckets[:8] = %v, want %v", st.buckets[:8], want)
		}
	}
	var count [3]int
	for _, b := range st.buckets {
		count[b]++
	}
	if count != [3]int{128, 64, 64} {
		t.Errorf("bucket counts = %v, want [128 64 64]", count)
	}
	// 192.0.2.1 hashes to bucket 50 = 4*12+2: dest 1 (B).
	if d := s.Schedule(&Flow{Src: [4]byte{192, 0, 2, 1}}); d != dests[1] {
		t.Errorf("192.0.2.1 -> %v, want %v", d.Addr, dests[1].Addr)
	}
	// Bucket 148 = 4*37: dest 0 (A).
	if d := s.Schedule(&Flow{Src: [4]byte{192, 0, 2, 2}}); d != dests[0] {
		t.Errorf("192.0.2.2 -> %v, want %v", d.Addr, dests[0].Addr)
	}
}

func schedRandFlow(r *rand.Rand) Flow {
	var f Flow
	f.Proto = TCP
	binary.BigEndian.PutUint32(f.Src[:], r.Uint32())
	f.SrcPort = uint16(r.Uint32())
	return f
}

// TestSchedSHWeights: sources spread in proportion to the weights, and a
// source always gets the same realserver.
func TestSchedSHWeights(t *testing.T) {
	dests := schedTestDests(1, 2, 3, 2)
	s := schedNew(t, "sh", 0, dests)
	r := rand.New(rand.NewPCG(3, 4))
	const n = 80000
	count := make([]int, len(dests))
	for range n {
		f := schedRandFlow(r)
		d := s.Schedule(&f)
		if again := s.Schedule(&f); again != d {
			t.Fatal("same source, different realserver")
		}
		count[schedIndex(dests, d)]++
	}
	for i, w := range []int{1, 2, 3, 2} {
		want := n * w / 8
		if c := count[i]; c < want*85/100 || c > want*115/100 {
			t.Errorf("dest %d (weight %d): %d of %d sources, want %d±15%%", i, w, c, n, want)
		}
	}
}

// TestSchedSHQuiesced: by default a source hashed to a quiesced realserver
// is refused; with sh-fallback it goes to an available one, and other
// sources are unaffected either way.
func TestSchedSHQuiesced(t *testing.T) {
	dests := schedTestDests(1, 1, 1, 1)
	plain := schedNew(t, "sh", 0, dests)
	fb := schedNew(t, "sh", SchedFallback, dests)
	r := rand.New(rand.NewPCG(5, 6))
	flows := make([]Flow, 2000)
	before := make([]*Dest, len(flows))
	for i := range flows {
		flows[i] = schedRandFlow(r)
		before[i] = plain.Schedule(&flows[i])
	}
	dests[2].SetWeight(0) // live: no Update needed for the check
	refused := 0
	for i := range flows {
		p, f := plain.Schedule(&flows[i]), fb.Schedule(&flows[i])
		if before[i] == dests[2] {
			refused++
			if p != nil {
				t.Fatalf("quiesced source got %v without fallback", p.Addr)
			}
			if f == nil || f == dests[2] {
				t.Fatalf("fallback gave %v", f)
			}
		} else if p != before[i] || f != before[i] {
			t.Fatalf("unaffected source moved: %v, %v, was %v", p, f, before[i])
		}
	}
	if refused == 0 {
		t.Fatal("no source hashed to the quiesced realserver")
	}
	// After Update the weight-0 realserver still has one bucket per round
	// of 4, so the same sources stay refused.
	plain.Update(dests)
	for i := range flows {
		if d := plain.Schedule(&flows[i]); (before[i] == dests[2]) != (d == nil) {
			t.Fatalf("after update: %v -> %v (was %v)", flows[i].Src, d, before[i])
		}
	}
	// All quiesced: fallback finds nothing.
	for _, d := range dests {
		d.SetWeight(0)
	}
	if d := fb.Schedule(&flows[0]); d != nil {
		t.Fatalf("all quiesced: fallback gave %v", d.Addr)
	}
}

func TestSchedSHPort(t *testing.T) {
	dests := schedTestDests(1, 1, 1, 1)
	noPort := schedNew(t, "sh", 0, dests)
	port := schedNew(t, "sh", SchedPort, dests)
	f := Flow{Proto: TCP, Src: [4]byte{192, 0, 2, 1}}
	seen := map[*Dest]bool{}
	want := noPort.Schedule(&f)
	for p := range 64 {
		f.SrcPort = uint16(40000 + p)
		if d := noPort.Schedule(&f); d != want {
			t.Fatal("without sh-port the source port changed the realserver")
		}
		seen[port.Schedule(&f)] = true
	}
	if len(seen) < 3 {
		t.Errorf("sh-port spread 64 ports over %d realservers, want at least 3", len(seen))
	}
}
