package balancer

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// ServiceStatus is one virtual service as ipvsadm -L --stats shows it.
type ServiceStatus struct {
	ServiceConfig
	ID    uint32
	Stats Stats
	Rates Rates        // see EstimateTick
	Dests []DestStatus // sorted by address, port
}

// DestStatus is one realserver of a service.
type DestStatus struct {
	DestConfig
	ID           uint32
	ActiveConns  int
	InactConns   int
	PersistConns int
	Stats        Stats
	Rates        Rates
}

// rawLocked adds up every worker's counters for a realserver id.
func (b *Balancer) rawLocked(id uint32) Stats {
	var s Stats
	for _, w := range b.workers {
		s.add(w.dest.read(id))
	}
	return s
}

// destStatsLocked is a realserver's counters since its creation or Zero.
func (b *Balancer) destStatsLocked(ds *destState) Stats {
	s := b.rawLocked(ds.id)
	s.sub(ds.zero)
	return s
}

// svcTotalLocked is a service's counters since its creation: the sum of
// its realservers', present, deleted and purged. (The workers count per
// realserver only; a connection's realserver belongs to one service.)
func (b *Balancer) svcTotalLocked(sv *svcState) Stats {
	s := sv.retired
	for _, ds := range b.destReg {
		if ds != nil && ds.svc == sv {
			r := b.rawLocked(ds.id)
			r.sub(ds.alloc)
			s.add(r)
		}
	}
	return s
}

// Services returns every virtual service in ipvsadm's sorted order
// (protocol, address, port), with realservers, connection counts and
// counters.
func (b *Balancer) Services() []ServiceStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ServiceStatus, 0, len(b.svcs))
	for _, sv := range b.svcs {
		ss := ServiceStatus{ServiceConfig: sv.cfg, ID: sv.id, Stats: b.svcTotalLocked(sv), Rates: sv.est.rates()}
		ss.Stats.sub(sv.zero)
		ss.Scheduler = sv.sched.Name()
		for _, ds := range sv.dests {
			d := ds.d
			ss.Dests = append(ss.Dests, DestStatus{
				DestConfig:  DestConfig{Addr: d.Addr, Port: d.Port, Method: d.Method, Weight: d.Weight()},
				ID:          ds.id,
				ActiveConns: d.ActiveConns(), InactConns: d.InactConns(), PersistConns: d.PersistConns(),
				Stats: b.destStatsLocked(ds), Rates: ds.est.rates(),
			})
		}
		slices.SortFunc(ss.Dests, func(x, y DestStatus) int {
			return cmp.Or(x.Addr.Compare(y.Addr), cmp.Compare(x.Port, y.Port))
		})
		out = append(out, ss)
	}
	slices.SortFunc(out, func(x, y ServiceStatus) int {
		return cmp.Or(cmp.Compare(x.Proto, y.Proto), x.Addr.Compare(y.Addr), cmp.Compare(x.Port, y.Port))
	})
	return out
}

// Zero resets the counters (ipvsadm -Z) of one service and its realservers,
// or of all services when key is nil. Workers are never written: a baseline
// is kept and subtracted.
func (b *Balancer) Zero(key *ServiceKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var list []*svcState
	if key == nil {
		for _, sv := range b.svcs {
			list = append(list, sv)
		}
	} else {
		sv, _, err := b.serviceLocked(*key)
		if err != nil {
			return err
		}
		list = append(list, sv)
	}
	for _, sv := range list {
		sv.zero = b.svcTotalLocked(sv)
		for _, ds := range sv.dests {
			ds.zero = b.rawLocked(ds.id)
		}
		b.zeroEstimatorsLocked(sv)
	}
	return nil
}

// NumConns returns the entries in the connection table (connections and
// persistence templates).
func (b *Balancer) NumConns() int { return int(b.t.count.Load()) }

// ConnInfo is one entry of ipvsadm -L -c.
type ConnInfo struct {
	Proto    Proto
	Client   netip.AddrPort // a template's is the client network, port 0
	Virtual  netip.AddrPort
	Dest     netip.AddrPort
	Method   Method
	State    string // "ESTABLISHED", "SYN_RECV", … ; "UDP"; "NONE" for TCP templates
	Expires  int64  // deadline in the clock of In's now
	Template bool
	// ServiceID and DestID match ServiceStatus.ID and DestStatus.ID while
	// those exist.
	ServiceID, DestID uint32
}

// String formats the entry roughly as ipvsadm -L -c -n does.
func (c ConnInfo) String() string {
	return fmt.Sprintf("%s %s %s %s %s", c.Proto, c.State, c.Client, c.Virtual, c.Dest)
}

func infoOf(c *conn) ConnInfo {
	ci := ConnInfo{
		Proto:     Proto(c.proto),
		Client:    netip.AddrPortFrom(netip.AddrFrom4(c.caddr), c.cport),
		Virtual:   netip.AddrPortFrom(netip.AddrFrom4(c.vaddr), c.vport),
		Dest:      netip.AddrPortFrom(netip.AddrFrom4(c.daddr), c.dport),
		Method:    c.method,
		Expires:   c.expires,
		Template:  c.flags&fTemplate != 0,
		ServiceID: c.svc,
		DestID:    c.dest,
	}
	switch {
	case ci.Proto == UDP:
		ci.State = "UDP"
	case c.state < tcpNumStates:
		ci.State = tcpStateNames[c.state]
	default:
		ci.State = "ERR!"
	}
	return ci
}

// Conns calls fn for every connection and template until fn returns false.
// Each shard is locked only while a batch of its entries is copied, so the
// listing is not one atomic picture of the table.
func (b *Balancer) Conns(fn func(ConnInfo) bool) {
	var buf [256]conn
	for i := range b.t.shards {
		s := &b.t.shards[i].shard
		for pos := uint32(0); ; {
			s.mu.Lock()
			n := 0
			for ; pos < s.used && n < len(buf); pos++ {
				if c := s.at(pos + 1); c.flags&fLive != 0 {
					buf[n] = *c
					n++
				}
			}
			done := pos >= s.used
			s.mu.Unlock()
			for j := range n {
				if !fn(infoOf(&buf[j])) {
					return
				}
			}
			if done {
				break
			}
		}
	}
}
