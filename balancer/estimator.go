package balancer

import "time"

// EstimateInterval is how often EstimateTick must run: IPVS's estimator
// takes a sample every 2 seconds and its arithmetic assumes that interval.
const EstimateInterval = 2 * time.Second

// Rates are IPVS's estimated rates, as ipvsadm -L --rate prints them:
// connections, packets and bytes per second, exponentially weighted over
// 2-second samples. A rate that is still climbing after a change in traffic
// is the estimator working as in the kernel, not a lag in govs.
type Rates struct {
	CPS, InPPS, OutPPS, InBPS, OutBPS uint64
}

// estimator is struct ip_vs_estimator (net/netfilter/ipvs/ip_vs_est.c):
// the counters at the previous sample and the moving averages, kept scaled
// so that the integer arithmetic keeps fractions. Connection and packet
// averages are scaled by 2^10, byte averages by 2^5. It holds no pointer.
type estimator struct {
	last               Stats
	cps, inpps, outpps int64
	inbps, outbps      int64
}

// ewma folds one sample into avg as the kernel does: the difference over
// the 2-second interval, shifted to the average's scale and halved for the
// interval (<<9 for 2^10, <<4 for 2^5), then avg += (rate-avg)/4 with an
// arithmetic shift.
func ewma(avg *int64, cur, last uint64, shift uint) {
	rate := int64((cur - last) << shift)
	*avg += (rate - *avg) >> 2
}

// tick takes one sample of the cumulative counters cur (estimation_timer).
func (e *estimator) tick(cur Stats) {
	ewma(&e.cps, cur.Conns, e.last.Conns, 9)
	ewma(&e.inpps, cur.InPkts, e.last.InPkts, 9)
	ewma(&e.outpps, cur.OutPkts, e.last.OutPkts, 9)
	ewma(&e.inbps, cur.InBytes, e.last.InBytes, 4)
	ewma(&e.outbps, cur.OutBytes, e.last.OutBytes, 4)
	e.last = cur
}

// zero restarts the estimator from the counters cur with every rate at 0
// (ip_vs_zero_estimator, called by ipvsadm -Z).
func (e *estimator) zero(cur Stats) {
	*e = estimator{last: cur}
}

// rates unscales the averages, rounding to nearest (ip_vs_read_estimator).
func (e *estimator) rates() Rates {
	return Rates{
		CPS:    uint64(e.cps+0x1FF) >> 10,
		InPPS:  uint64(e.inpps+0x1FF) >> 10,
		OutPPS: uint64(e.outpps+0x1FF) >> 10,
		InBPS:  uint64(e.inbps+0xF) >> 5,
		OutBPS: uint64(e.outbps+0xF) >> 5,
	}
}

// EstimateTick samples every service's and realserver's counters and
// updates their rates; call it every EstimateInterval (a daemon goroutine
// with a ticker). Like the kernel's timer it does not look at the clock: a
// late tick counts as a 2-second one. Services and realservers start with
// their rates at 0 and their counters at 0, so the first tick sees
// everything since they were added. A deleted realserver is not sampled; if
// it comes back from the trash (ipvsadm -a moments after -d) its first
// sample covers the whole time it was away, as in IPVS.
func (b *Balancer) EstimateTick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	// One pass over the realservers, workers' counters read once each:
	// a service's counters are the sum of its realservers', deleted ones
	// included (see svcTotalLocked).
	sums := make(map[*svcState]Stats, len(b.svcs))
	for _, ds := range b.destReg {
		if ds == nil {
			continue
		}
		r := b.destCumLocked(ds)
		s := sums[ds.svc]
		s.add(r)
		sums[ds.svc] = s
		if !ds.trashed {
			ds.est.tick(r)
		}
	}
	for _, sv := range b.svcs {
		s := sv.retired
		s.add(sums[sv])
		sv.est.tick(s)
	}
}

// destCumLocked is a realserver's counters since it was added, the sample
// its estimator takes.
func (b *Balancer) destCumLocked(ds *destState) Stats {
	r := b.rawLocked(ds.id)
	r.sub(ds.alloc)
	return r
}

// zeroEstimatorsLocked restarts the rates of a service and its realservers,
// for Zero.
func (b *Balancer) zeroEstimatorsLocked(sv *svcState) {
	sv.est.zero(b.svcTotalLocked(sv))
	for _, ds := range sv.dests {
		ds.est.zero(b.destCumLocked(ds))
	}
}
