package forward

import (
	"encoding/binary"
	"net/netip"
)

// ARP for IPv4 over Ethernet (RFC 826), as it follows the Ethernet header:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Hardware type (1)         |     Protocol type (0x0800)    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  HLEN (6)     |  PLEN (4)     |          Operation            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Sender hardware address (SHA)                  |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |  Sender protocol address (SPA)|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   SPA (cont.)                 | Target hardware address (THA) |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Target protocol address (TPA)                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

const (
	arpHType = 0
	arpPType = 2
	arpHLen  = 4
	arpPLen  = 5
	arpOp    = 6
	arpSHA   = 8
	arpSPA   = 14
	arpTHA   = 18
	arpTPA   = 24

	arpHWEthernet = 1
)

// ARPIPv4Len is the length of an ARP packet for IPv4 over Ethernet.
const ARPIPv4Len = 28

// ARP operation codes.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARP is a view of an ARP packet for IPv4 over Ethernet. The caller checks
// that it holds at least ARPIPv4Len bytes; the accessors assume IPv4 over
// Ethernet, which IsIPv4OverEthernet checks.
type ARP []byte

// IsIPv4OverEthernet reports whether the hardware and protocol types and
// lengths are those of IPv4 over Ethernet (1, 0x0800, 6, 4).
func (a ARP) IsIPv4OverEthernet() bool {
	return binary.BigEndian.Uint16(a[arpHType:]) == arpHWEthernet &&
		binary.BigEndian.Uint16(a[arpPType:]) == EtherTypeIPv4 &&
		a[arpHLen] == macLen && a[arpPLen] == ipAddrLen
}

// Op returns the operation (ARPRequest, ARPReply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[arpOp:]) }

// SenderHardwareAddress returns the sender's MAC address.
func (a ARP) SenderHardwareAddress() [6]byte { return [6]byte(a[arpSHA : arpSHA+macLen]) }

// SenderProtocolAddress returns the sender's IPv4 address.
func (a ARP) SenderProtocolAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(a[arpSPA : arpSPA+ipAddrLen]))
}

// TargetHardwareAddress returns the target's MAC address.
func (a ARP) TargetHardwareAddress() [6]byte { return [6]byte(a[arpTHA : arpTHA+macLen]) }

// TargetProtocolAddress returns the target's IPv4 address.
func (a ARP) TargetProtocolAddress() netip.Addr {
	return netip.AddrFrom4([4]byte(a[arpTPA : arpTPA+ipAddrLen]))
}

// Encode writes an ARP packet for IPv4 over Ethernet into a[:ARPIPv4Len]:
// operation op from sha/spa to tha/tpa (spa and tpa IPv4 addresses).
func (a ARP) Encode(op uint16, sha [6]byte, spa netip.Addr, tha [6]byte, tpa netip.Addr) {
	_ = a[ARPIPv4Len-1]
	binary.BigEndian.PutUint16(a[arpHType:], arpHWEthernet)
	binary.BigEndian.PutUint16(a[arpPType:], EtherTypeIPv4)
	a[arpHLen], a[arpPLen] = macLen, ipAddrLen
	binary.BigEndian.PutUint16(a[arpOp:], op)
	s, t := spa.As4(), tpa.As4()
	copy(a[arpSHA:arpSHA+macLen], sha[:])
	copy(a[arpSPA:arpSPA+ipAddrLen], s[:])
	copy(a[arpTHA:arpTHA+macLen], tha[:])
	copy(a[arpTPA:arpTPA+ipAddrLen], t[:])
}
