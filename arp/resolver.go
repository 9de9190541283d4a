package arp

import (
	"context"
	"net/netip"
	"time"
)

// retrigger is the least time between two resolution requests for one address.
const retrigger = time.Second

// Neighbour is a usable kernel neighbour entry as the Resolver keeps it:
// pointer-free, so a snapshot of thousands of them costs the GC nothing.
type neighbour struct {
	mac     [6]byte
	ifindex int32
}

// route is a cached route lookup for one destination.
type route struct {
	gw      [4]byte // next hop: the gateway, or the destination itself when on-link
	src     [4]byte // preferred source address (RTA_PREFSRC), zero if none
	ifindex int32
	ok      bool // false: cached negative result (unreachable, local, filtered)
}

// Wait blocks until ip has a usable neighbour entry and returns it, asking
// the kernel to resolve it meanwhile. It is for the control plane (say, when
// a realserver is added); the dataplane calls Lookup.
func (r *Resolver) Wait(ctx context.Context, ip netip.Addr) (mac [6]byte, ifindex int, err error) {
	if !ip.Is4() {
		return mac, 0, errNotIPv4(ip)
	}
	a := ip.As4()
	tick := time.NewTicker(retrigger) // ask again while the kernel gives up
	defer tick.Stop()
	for {
		ch := r.changed()
		if mac, ifindex, ok := r.Lookup(a); ok {
			return mac, ifindex, nil
		}
		select {
		case <-ctx.Done():
			return mac, 0, ctx.Err()
		case <-ch:
		case <-tick.C:
		}
	}
}

// Resolve is NextHop followed by Lookup of the next hop: the Ethernet
// destination, output interface and source address for a packet to dst.
// ok=false means no route or no usable neighbour yet (resolution has been
// asked for); the caller drops the packet and counts it.
func (r *Resolver) Resolve(dst [4]byte) (mac [6]byte, ifindex int, src [4]byte, ok bool) {
	gw, ifindex, src, ok := r.NextHop(dst)
	if !ok {
		return mac, 0, src, false
	}
	mac, nifindex, ok := r.Lookup(gw)
	if !ok || nifindex != ifindex {
		if ok { // known on another interface only: ask on the routed one
			r.trigger(gw)
		}
		return mac, 0, src, false
	}
	return mac, ifindex, src, true
}
