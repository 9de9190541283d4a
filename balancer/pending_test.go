package balancer

import (
	"testing"
)

// TestDeferCounters: packet and byte counters reach readers on Flush, new
// connections at once.
func TestDeferCounters(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodMasq, rip1)
	now := int64(1000 * sec)
	for i := range 5 {
		f := tcpFlow(client(1), uint16(4000+i), vip1, 80)
		w.In(f, TCPFlagSYN, 60, now)
		w.In(f, TCPFlagACK, 52, now)
		back := &Flow{Proto: TCP, Src: [4]byte(rip1.As4()), SrcPort: 80, Dst: client(1), DstPort: uint16(4000 + i)}
		if v := w.Out(back, TCPFlagSYN|TCPFlagACK, 60, now); v.Action != Forward {
			t.Fatalf("reply %d: %+v", i, v)
		}
	}
	before := destStatus(t, b, k, rip1).Stats
	w.Flush()
	after := destStatus(t, b, k, rip1).Stats
	w.Flush() // nothing pending: no change
	if again := destStatus(t, b, k, rip1).Stats; again != after {
		t.Fatalf("a second Flush changed the counters: %+v then %+v", after, again)
	}
	want := Stats{Conns: 5, InPkts: 10, OutPkts: 5, InBytes: 5 * 112, OutBytes: 5 * 60}
	if before != (Stats{Conns: 5}) {
		t.Errorf("before Flush: %+v, want only the 5 connections", before)
	}
	if after != want {
		t.Errorf("after Flush: %+v, want %+v", after, want)
	}
}

func TestDeferCountersNoAllocs(t *testing.T) {
	k := tcpKey(vip1, 80)
	_, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	f := tcpFlow(client(1), 4000, vip1, 80)
	w.In(f, TCPFlagSYN, 60, 0)
	w.In(f, TCPFlagACK, 60, 0)
	w.Flush()
	if n := testing.AllocsPerRun(100, func() { w.In(f, TCPFlagACK, 60, 0); w.Flush() }); n != 0 {
		t.Fatalf("%v allocations per packet and flush", n)
	}
}
