package balancer

import (
	"fmt"
	"strings"
)

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

// schedulerNames lists the schedulers in the order ipvsadm's man page does.
var schedulerNames = [...]string{"rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "mh"}

// SchedulerNames returns the names NewScheduler accepts.
func SchedulerNames() []string {
	return append([]string(nil), schedulerNames[:]...)
}

// SchedFlags are a service's scheduler flags (IPVS's IP_VS_SVC_F_SCHED1..3,
// ipvsadm's --sched-flags). Only sh and mh read them; the other schedulers
// ignore them, as the kernel's do.
type SchedFlags uint8

// Scheduler flags. sh and mh give flag-1 and flag-2 the same meaning.
const (
	SchedFlag1 SchedFlags = 1 << iota // IP_VS_SVC_F_SCHED1: sh-fallback, mh-fallback
	SchedFlag2                        // IP_VS_SVC_F_SCHED2: sh-port, mh-port
	SchedFlag3                        // IP_VS_SVC_F_SCHED3: unused by sh and mh

	// SchedFallback makes sh and mh try further buckets when the hashed
	// realserver is quiesced, instead of refusing the connection.
	SchedFallback = SchedFlag1
	// SchedPort makes sh and mh hash the source port as well as the source
	// address.
	SchedPort = SchedFlag2
)

// NewScheduler returns the scheduler with the given IPVS name and no flags.
func NewScheduler(name string) (Scheduler, error) {
	return NewSchedulerFlags(name, 0)
}

// NewSchedulerFlags returns the scheduler with the given IPVS name and
// scheduler flags (see ParseSchedFlags).
func NewSchedulerFlags(name string, flags SchedFlags) (Scheduler, error) {
	switch name {
	case "rr":
		return newRR(), nil
	case "wrr":
		return newWRR(), nil
	case "lc":
		return newLC(), nil
	case "wlc":
		return newWLC(), nil
	case "sed":
		return newSED(), nil
	case "nq":
		return newNQ(), nil
	case "sh":
		return newSH(flags), nil
	case "mh":
		return newMH(flags), nil
	}
	return nil, fmt.Errorf("unknown scheduler %q (want one of %s)", name, strings.Join(schedulerNames[:], ", "))
}

// ParseSchedFlags parses ipvsadm's --sched-flags argument for the named
// scheduler: a comma-separated list of flag-1, flag-2, flag-3 and the
// aliases sh-fallback, sh-port (scheduler sh only) and mh-fallback, mh-port
// (scheduler mh only). The empty string is no flags.
func ParseSchedFlags(sched, list string) (SchedFlags, error) {
	var f SchedFlags
	if list == "" {
		return 0, nil
	}
	for _, word := range strings.Split(list, ",") {
		var bit SchedFlags
		only := ""
		switch word {
		case "flag-1":
			bit = SchedFlag1
		case "flag-2":
			bit = SchedFlag2
		case "flag-3":
			bit = SchedFlag3
		case "sh-fallback":
			bit, only = SchedFlag1, "sh"
		case "sh-port":
			bit, only = SchedFlag2, "sh"
		case "mh-fallback":
			bit, only = SchedFlag1, "mh"
		case "mh-port":
			bit, only = SchedFlag2, "mh"
		default:
			return 0, fmt.Errorf("unknown scheduler flag %q (want flag-1, flag-2, flag-3, sh-fallback, sh-port, mh-fallback or mh-port)", word)
		}
		if only != "" && sched != only {
			return 0, fmt.Errorf("scheduler flag %q needs scheduler %s, not %q", word, only, sched)
		}
		f |= bit
	}
	return f, nil
}

// FormatSchedFlags writes flags as ipvsadm lists them for the named
// scheduler: sh-/mh- aliases for sh and mh, flag-N otherwise.
func FormatSchedFlags(sched string, f SchedFlags) string {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	switch sched {
	case "sh":
		names[0], names[1] = "sh-fallback", "sh-port"
	case "mh":
		names[0], names[1] = "mh-fallback", "mh-port"
	}
	var out []string
	for i, n := range names {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
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
