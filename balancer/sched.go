package balancer

// The schedulers replicate the IPVS modules net/netfilter/ipvs/ip_vs_<name>.c
// decision for decision, so that a service moved from the kernel to govs
// spreads its connections the same way:
//
//	rr   round robin                 ip_vs_rr.c
//	wrr  weighted round robin        ip_vs_wrr.c
//	lc   least connections           ip_vs_lc.c
//	wlc  weighted least connections  ip_vs_wlc.c
//	sed  shortest expected delay     ip_vs_sed.c
//	nq   never queue                 ip_vs_nq.c
//	sh   source hashing              ip_vs_sh.c
//	mh   Maglev hashing              ip_vs_mh.c
//
// Every scheduler walks the realservers in the order of the slice given to
// Update, as the kernel walks svc->destinations. (ipvsadm -a inserts at the
// head of that list, so the kernel's order is the reverse of insertion; the
// caller decides the order here.) A weight of 0 quiesces a realserver: it is
// never chosen for a new connection. govs has no upper connection threshold
// yet, so IP_VS_DEST_F_OVERLOAD is never set and the schedulers do not test it.
//
// Concurrency: Update builds a new immutable state and publishes it; Schedule
// reads the published state and the realservers' atomic counters. rr and wrr
// keep a cursor that every Schedule moves, guarded by a mutex as the kernel
// guards it with svc->sched_lock. Schedule never allocates.

// NewScheduler returns the scheduler with the given IPVS name and no flags.
func NewScheduler(name SchedName) (Scheduler, error) {
	return NewSchedulerFlags(name, 0)
}

// NewSchedulerFlags returns the scheduler with the given IPVS name and
// scheduler flags (see ParseSchedFlags).
func NewSchedulerFlags(name SchedName, flags SchedFlags) (Scheduler, error) {
	switch name {
	case SchedRR:
		return newRR(), nil
	case SchedWRR:
		return newWRR(), nil
	case SchedLC:
		return newLC(), nil
	case SchedWLC:
		return newWLC(), nil
	case SchedSED:
		return newSED(), nil
	case SchedNQ:
		return newNQ(), nil
	case SchedSH:
		return newSH(flags), nil
	case SchedMH:
		return newMH(flags), nil
	}
	_, err := ParseSchedName(string(name))
	return nil, err
}

// schedConnOverhead is ip_vs_dest_conn_overhead (include/net/ip_vs.h): an active
// connection is taken to cost 256 times an inactive one.
func schedConnOverhead(d *Dest) int64 {
	return int64(d.active.Load())<<8 + int64(d.inactive.Load())
}

// schedGCD is the kernel's gcd() from lib/math/gcd.c for positive operands.
func schedGCD(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Compile-time checks that every scheduler is a Scheduler.
var (
	_ Scheduler = (*rrSched)(nil)
	_ Scheduler = (*wrrSched)(nil)
	_ Scheduler = (*lcSched)(nil)
	_ Scheduler = (*wlcSched)(nil)
	_ Scheduler = (*sedSched)(nil)
	_ Scheduler = (*nqSched)(nil)
	_ Scheduler = (*shSched)(nil)
	_ Scheduler = (*mhSched)(nil)
)
