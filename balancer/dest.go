package balancer

import (
	"net/netip"
	"sync/atomic"
)

// Flow is the 5-tuple of a packet as the balancer sees it: IPv4 only, integers
// and arrays so that it never holds a pointer.
type Flow struct {
	Proto   Proto
	Src     [4]byte
	Dst     [4]byte
	SrcPort uint16
	DstPort uint16
}

// Dest is a realserver of one virtual service (IPVS's ip_vs_dest). Address,
// port and method are fixed for its life; weight and the connection counts
// change and are read atomically, so schedulers on several workers may read
// them while the control plane edits the weight.
type Dest struct {
	Addr   netip.Addr
	Port   uint16
	Method Method

	weight   atomic.Int32
	active   atomic.Int32 // connections in TCP ESTABLISHED
	inactive atomic.Int32 // every other connection state (and all UDP)
	persist  atomic.Int32 // persistence templates pointing here
}

// NewDest returns a realserver with the given weight.
func NewDest(addr netip.Addr, port uint16, m Method, weight int) *Dest {
	d := &Dest{Addr: addr, Port: port, Method: m}
	d.weight.Store(int32(weight))
	return d
}

// Weight returns the current weight; 0 means quiesced (no new connections).
func (d *Dest) Weight() int { return int(d.weight.Load()) }

// SetWeight changes the weight.
func (d *Dest) SetWeight(w int) { d.weight.Store(int32(w)) }

// ActiveConns returns IPVS's activeconns.
func (d *Dest) ActiveConns() int { return int(d.active.Load()) }

// InactConns returns IPVS's inactconns.
func (d *Dest) InactConns() int { return int(d.inactive.Load()) }

// PersistConns returns IPVS's persistconns.
func (d *Dest) PersistConns() int { return int(d.persist.Load()) }

// Scheduler picks a realserver for a new connection, with the semantics of the
// IPVS scheduler of the same name (net/netfilter/ipvs/ip_vs_<name>.c).
//
// Update is called by the control plane whenever the realserver list or a
// weight changes (never concurrently with another Update). Schedule is called
// by dataplane workers, concurrently with each other and with Update; a
// scheduler guards its own mutable state. Schedule returns nil when no
// realserver can take the connection (all quiesced, overloaded or none).
// Schedule must not allocate.
type Scheduler interface {
	Name() SchedName
	Update(dests []*Dest)
	Schedule(f *Flow) *Dest
}
