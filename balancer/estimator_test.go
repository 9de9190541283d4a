package balancer

import (
	"net/netip"
	"testing"
)

// The expected values below were computed by hand (and checked with a
// calculator) from estimation_timer and ip_vs_read_estimator in
// net/netfilter/ipvs/ip_vs_est.c:
//
//	rate = (cur - last) << 9          (packets, connections: 2^10 / 2 s)
//	rate = (cur - last) << 4          (bytes: 2^5 / 2 s)
//	avg += (rate - avg) >> 2
//	shown = (avg + 0x1FF) >> 10       (packets, connections)
//	shown = (avg + 0xF) >> 5          (bytes)
func TestEstimatorKernelArithmetic(t *testing.T) {
	type step struct {
		pkts, bytes        uint64 // added during the 2-second interval
		avgPPS, avgBPS     int64  // scaled averages after the tick
		shownPPS, shownBPS uint64 // what ipvsadm --rate prints
	}
	// 1000 packets/s of 1500 bytes (2000 packets, 3,000,000 bytes per
	// tick) for 10 ticks, then silence for 3.
	steps := []step{
		{2000, 3000000, 256000, 12000000, 250, 375000},
		{2000, 3000000, 448000, 21000000, 437, 656250},
		{2000, 3000000, 592000, 27750000, 578, 867187},
		{2000, 3000000, 700000, 32812500, 684, 1025391},
		{2000, 3000000, 781000, 36609375, 763, 1144043},
		{2000, 3000000, 841750, 39457031, 822, 1233032},
		{2000, 3000000, 887312, 41592773, 867, 1299774},
		{2000, 3000000, 921484, 43194579, 900, 1349831},
		{2000, 3000000, 947113, 44395934, 925, 1387373},
		{2000, 3000000, 966334, 45296950, 944, 1415530},
		{0, 0, 724750, 33972712, 708, 1061647},
		{0, 0, 543562, 25479534, 531, 796235},
		{0, 0, 407671, 19109650, 398, 597177},
	}
	var e estimator
	var cum Stats
	for i, s := range steps {
		cum.InPkts += s.pkts
		cum.OutPkts += s.pkts
		cum.InBytes += s.bytes
		cum.OutBytes += s.bytes
		e.tick(cum)
		if e.inpps != s.avgPPS || e.outpps != s.avgPPS || e.inbps != s.avgBPS || e.outbps != s.avgBPS {
			t.Fatalf("tick %d: averages pps %d/%d bps %d/%d, want %d, %d", i+1, e.inpps, e.outpps, e.inbps, e.outbps, s.avgPPS, s.avgBPS)
		}
		want := Rates{InPPS: s.shownPPS, OutPPS: s.shownPPS, InBPS: s.shownBPS, OutBPS: s.shownBPS}
		if got := e.rates(); got != want {
			t.Fatalf("tick %d: rates %+v, want %+v", i+1, got, want)
		}
	}
}

func TestEstimatorSmallRates(t *testing.T) {
	// One new connection a second: 2 per tick. avg = 256, 448, 592, ...
	// shown = (avg+511)>>10: 0, 0, 1, 1 ... (the kernel rounds to nearest).
	want := []uint64{0, 0, 1, 1, 1, 1}
	var e estimator
	var cum Stats
	for i, w := range want {
		cum.Conns += 2
		e.tick(cum)
		if got := e.rates().CPS; got != w {
			t.Errorf("tick %d: CPS %d, want %d (avg %d)", i+1, got, w, e.cps)
		}
	}
	// Zero: rates 0 at once, and the next sample counts only what came
	// after it.
	cum.Conns += 1000
	e.zero(cum)
	if e.rates() != (Rates{}) {
		t.Errorf("after zero: %+v", e.rates())
	}
	cum.Conns += 2000 // 1000/s: avg 256000, shown 250
	e.tick(cum)
	if got := e.rates().CPS; got != 250 {
		t.Errorf("first tick after zero: CPS %d, want 250", got)
	}
}

// TestEstimateTick drives traffic through a Worker and checks that each
// realserver's rates come from its own counters, the service's from the sum
// (deleted realservers included), and that Zero restarts them.
func TestEstimateTick(t *testing.T) {
	k := tcpKey(vip1, 80)
	b := New(Config{})
	mustOK(t, b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr"}))
	for _, r := range []netip.Addr{rip1, rip2} {
		mustOK(t, b.AddDest(k, DestConfig{Addr: r, Port: 8080, Method: MethodMasq, Weight: 1}))
	}
	w := b.NewWorker()
	in := [2]*Flow{tcpFlow(client(1), 1000, vip1, 80), tcpFlow(client(2), 1000, vip1, 80)}
	var out [2]*Flow
	var rip [2]netip.Addr
	for i, f := range in {
		v := w.In(f, TCPFlagSYN, 100, 0)
		if v.Action != Forward {
			t.Fatalf("SYN %d: %+v", i, v)
		}
		rip[i] = netip.AddrFrom4(v.DestAddr)
		out[i] = tcpFlow(v.DestAddr, v.DestPort, f.Src, f.SrcPort)
	}
	if rip[0] == rip[1] {
		t.Fatalf("rr sent both connections to %s", rip[0])
	}
	// send adds n in-packets of 100 bytes to connection i (and n/2 out-
	// packets of 1000 bytes if out), as one batch: the counters have them
	// when it returns.
	send := func(i, n int, withOut bool) {
		for range n {
			w.In(in[i], TCPFlagACK, 100, sec)
		}
		if withOut {
			for range n / 2 {
				w.Out(out[i], TCPFlagACK, 1000, sec)
			}
		}
		w.Flush()
	}
	rates := func() (svc Rates, dest map[netip.Addr]Rates) {
		dest = map[netip.Addr]Rates{}
		for _, s := range b.Services() {
			if s.ServiceKey == k {
				svc = s.Rates
				for _, d := range s.Dests {
					dest[d.Addr] = d.Rates
				}
			}
		}
		return svc, dest
	}

	// Interval 1: the SYNs plus 1999 packets on connection 0 (2000 in all,
	// 200,000 bytes), 3999+2000 on connection 1.
	send(0, 1999, false)
	send(1, 3999, false)
	for range 2000 {
		w.Out(out[1], TCPFlagACK, 1000, sec)
	}
	w.Flush()
	b.EstimateTick()
	svc, dest := rates()
	// shown = (Δ·2^9/4 + 511) >> 10 for packets and connections,
	// (Δ·2^4/4 + 15) >> 5 for bytes, on the first tick.
	if want := (Rates{InPPS: 250, InBPS: 25000}); dest[rip[0]] != want {
		t.Errorf("tick 1, %s: %+v, want %+v", rip[0], dest[rip[0]], want)
	}
	if want := (Rates{InPPS: 500, InBPS: 50000, OutPPS: 250, OutBPS: 250000}); dest[rip[1]] != want {
		t.Errorf("tick 1, %s: %+v, want %+v", rip[1], dest[rip[1]], want)
	}
	// Δ 6000 in-packets: (768000+511)>>10 = 750; Δ 2 conns: (256+511)>>10 = 0.
	if want := (Rates{InPPS: 750, InBPS: 75000, OutPPS: 250, OutBPS: 250000}); svc != want {
		t.Errorf("tick 1, service: %+v, want %+v", svc, want)
	}

	// Interval 2: silence; avg 256000 → 192000, shown (192000+511)>>10 = 187.
	b.EstimateTick()
	if _, dest = rates(); dest[rip[0]].InPPS != 187 {
		t.Errorf("tick 2, %s: %+v, want InPPS 187", rip[0], dest[rip[0]])
	}

	// Zero restarts every rate at 0, and the next sample starts from the
	// counters at the Zero: traffic before it does not count.
	send(0, 1000, false)
	mustOK(t, b.Zero(&k))
	if svc, dest = rates(); svc != (Rates{}) || dest[rip[0]] != (Rates{}) || dest[rip[1]] != (Rates{}) {
		t.Errorf("after Zero: service %+v, dests %+v", svc, dest)
	}
	send(0, 2000, false)
	b.EstimateTick()
	if svc, dest = rates(); svc.InPPS != 250 || dest[rip[0]].InPPS != 250 || dest[rip[1]] != (Rates{}) {
		t.Errorf("tick after Zero: service %+v, dests %+v", svc, dest)
	}

	// A deleted realserver with a live connection still feeds its
	// service's rates (IPVS counts per service too), and is not listed.
	mustOK(t, b.DelDest(k, rip[1], 8080))
	mustOK(t, b.Zero(nil))
	send(1, 2000, false)
	b.EstimateTick()
	svc, dest = rates()
	if svc.InPPS != 250 || len(dest) != 1 || dest[rip[0]] != (Rates{}) {
		t.Errorf("after DelDest: service %+v, dests %+v", svc, dest)
	}
}

func TestExpiredAndMaxConns(t *testing.T) {
	k := udpKey(vip1, 53)
	b, w := setup(t, Config{MaxConns: 1000}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	if b.MaxConns() != 1000 {
		t.Errorf("MaxConns %d", b.MaxConns())
	}
	for i := range 10 {
		w.In(&Flow{Proto: UDP, Src: client(1), SrcPort: uint16(1000 + i), Dst: vip1, DstPort: 53}, 0, 10, 0)
	}
	if b.Expired() != 0 || b.NumConns() != 10 {
		t.Fatalf("before expiry: expired %d, conns %d", b.Expired(), b.NumConns())
	}
	for calls := 0; b.NumConns() > 0; calls++ {
		if calls > 100 {
			t.Fatalf("expiry not progressing: %d left", b.NumConns())
		}
		b.Expire(301*sec, 4)
	}
	if b.Expired() != 10 {
		t.Errorf("Expired %d, want 10", b.Expired())
	}
}
