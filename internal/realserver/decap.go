package realserver

import (
	"net/netip"
	"sync/atomic"

	"github.com/govs-lb/govs/forward"
)

// IP-in-IP (RFC 2003) is an outer IPv4 header with protocol 4 followed
// directly by the inner IPv4 packet. Both headers are read through package
// forward's IPv4 view, validated once by forward.ParseIPv4.

// Verdict is what Decap decided about one packet.
type Verdict uint8

// Verdicts. Only Deliver hands the inner packet to the local stack.
const (
	Deliver            Verdict = iota // inner packet to a VIP: write it to the TUN device
	DropOuterMalformed                // outer header short, not IPv4, bad IHL or total length
	DropNotIPIP                       // outer protocol is not 4, or the packet is a fragment
	DropInnerMalformed                // inner packet short, not IPv4, bad IHL or total length
	DropNotVIP                        // inner destination is not one of the VIPs
	DropWriteError                    // the TUN device refused the inner packet
	numVerdicts
)

var verdictNames = [numVerdicts]string{"deliver", "outer-malformed", "not-ipip", "inner-malformed", "not-vip", "write-error"}

func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "verdict?"
}

// VIPSet is a small set of IPv4 VIPs, pointer-free, for the packet path.
type VIPSet struct{ addrs [][4]byte }

// NewVIPSet returns the set of the IPv4 addresses in vips (others ignored).
func NewVIPSet(vips []netip.Addr) VIPSet {
	var s VIPSet
	for _, a := range vips {
		if a.Is4() && !s.Contains(a.As4()) {
			s.addrs = append(s.addrs, a.As4())
		}
	}
	return s
}

// Contains reports whether a is in the set. It does not allocate.
func (s VIPSet) Contains(a [4]byte) bool {
	for _, v := range s.addrs {
		if v == a {
			return true
		}
	}
	return false
}

// Len is the number of VIPs in the set.
func (s VIPSet) Len() int { return len(s.addrs) }

// Decap validates pkt as an IPIP packet (outer IPv4 header with protocol 4,
// options honoured through IHL) whose inner IPv4 packet is addressed to one
// of vips, and returns the inner packet, trimmed to its total length, as a
// subslice of pkt. A bad packet is a verdict, not an error; inner is nil
// unless the verdict is Deliver. Decap does not allocate.
func Decap(pkt []byte, vips VIPSet) (inner []byte, v Verdict) {
	outer, err := forward.ParseIPv4(pkt)
	if err != nil {
		return nil, DropOuterMalformed
	}
	if outer.Protocol() != forward.ProtoIPIP {
		return nil, DropNotIPIP
	}
	if outer.MoreFragments() || outer.FragmentOffset() != 0 {
		return nil, DropNotIPIP // raw sockets see reassembled packets; a fragment here is bogus
	}
	in, err := forward.ParseIPv4(outer.Payload())
	if err != nil {
		return nil, DropInnerMalformed
	}
	if !vips.Contains([4]byte(in.DestinationSlice())) {
		return nil, DropNotVIP
	}
	return in, Deliver
}

// Stats counts packets by verdict. Its methods are safe for concurrent use.
type Stats struct{ n [numVerdicts]atomic.Uint64 }

func (s *Stats) add(v Verdict) {
	if s != nil && v < numVerdicts {
		s.n[v].Add(1)
	}
}

// Count returns the number of packets that got v.
func (s *Stats) Count(v Verdict) uint64 {
	if v >= numVerdicts {
		return 0
	}
	return s.n[v].Load()
}

// Decapsulator turns IPIP packets into inner packets written to a TUN
// device (any io.Writer taking one packet per Write), counting verdicts.
type Decapsulator struct {
	VIPs  VIPSet
	Stats *Stats // may be nil
	Out   interface{ Write([]byte) (int, error) }
}

// Handle decapsulates one packet read from the IPIP raw socket and writes
// the inner packet to Out. It does not allocate (beyond what Out does).
func (d *Decapsulator) Handle(pkt []byte) Verdict {
	inner, v := Decap(pkt, d.VIPs)
	if v == Deliver {
		if _, err := d.Out.Write(inner); err != nil {
			v = DropWriteError
		}
	}
	d.Stats.add(v)
	return v
}
