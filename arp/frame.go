package arp

import "encoding/binary"

// ARP over Ethernet for IPv4 (RFC 826), as it sits after a 14-byte
// Ethernet II header:
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
	ethHdrLen    = 14
	ethDst       = 0
	ethSrc       = 6
	ethType      = 12
	etherTypeARP = 0x0806
	etherTypeIP4 = 0x0800

	arpHType = ethHdrLen + 0
	arpPType = ethHdrLen + 2
	arpHLen  = ethHdrLen + 4
	arpPLen  = ethHdrLen + 5
	arpOp    = ethHdrLen + 6
	arpSHA   = ethHdrLen + 8
	arpSPA   = ethHdrLen + 14
	arpTHA   = ethHdrLen + 18
	arpTPA   = ethHdrLen + 24
	arpEnd   = ethHdrLen + 28 // 42

	hwEthernet = 1

	// OpRequest and OpReply are the ARP operation codes.
	OpRequest = 1
	OpReply   = 2

	// FrameLen is the length of every frame built here: the 42 bytes of
	// Ethernet + ARP padded with zeros to the 60-byte Ethernet minimum
	// (without FCS), as a NIC would pad it on the wire.
	FrameLen = 60
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ParseRequest reports whether frame is an Ethernet II frame carrying an
// ARP request for IPv4 over Ethernet, and returns its sender hardware and
// protocol addresses and its target protocol address. Anything else —
// short frames, replies, other hardware or protocol types, VLAN tags — is
// ok=false. It does not allocate and does not retain frame.
//
// A gratuitous ARP request (spa == tpa) parses as a request; a caller that
// answers for VIPs should not answer one whose spa is the VIP itself.
func ParseRequest(frame []byte) (sha [6]byte, spa, tpa [4]byte, ok bool) {
	if len(frame) < arpEnd {
		return sha, spa, tpa, false
	}
	if binary.BigEndian.Uint16(frame[ethType:]) != etherTypeARP ||
		binary.BigEndian.Uint16(frame[arpHType:]) != hwEthernet ||
		binary.BigEndian.Uint16(frame[arpPType:]) != etherTypeIP4 ||
		frame[arpHLen] != 6 || frame[arpPLen] != 4 ||
		binary.BigEndian.Uint16(frame[arpOp:]) != OpRequest {
		return sha, spa, tpa, false
	}
	copy(sha[:], frame[arpSHA:arpSHA+6])
	copy(spa[:], frame[arpSPA:arpSPA+4])
	copy(tpa[:], frame[arpTPA:arpTPA+4])
	return sha, spa, tpa, true
}

// BuildReply writes into dst an ARP reply saying "vip is at ourMAC",
// addressed (Ethernet and ARP target) to the requester reqSHA/reqSPA, and
// returns dst[:FrameLen]. dst must have len >= FrameLen or BuildReply
// panics; it does not allocate.
func BuildReply(dst []byte, ourMAC [6]byte, vip [4]byte, reqSHA [6]byte, reqSPA [4]byte) []byte {
	return build(dst, reqSHA, ourMAC, OpReply, ourMAC, vip, reqSHA, reqSPA)
}

// BuildRequest writes into dst a broadcast ARP request from mac/spa asking
// for tpa (target hardware address zero, as the Linux kernel sends it) and
// returns dst[:FrameLen]. dst must have len >= FrameLen.
func BuildRequest(dst []byte, mac [6]byte, spa, tpa [4]byte) []byte {
	return build(dst, Broadcast, mac, OpRequest, mac, spa, [6]byte{}, tpa)
}

// BuildGratuitous writes into dst a gratuitous ARP for vip at mac and
// returns dst[:FrameLen]. dst must have len >= FrameLen.
//
// The frame is exactly what keepalived sends (vrrp_arp.c,
// send_gratuitous_arp_immediate) and what heartbeat's send_arp sends by
// default: an ARP *request* (not a reply, which some hosts ignore when
// unsolicited), Ethernet destination broadcast, sha = mac, spa = tpa = vip,
// and tha = ff:ff:ff:ff:ff:ff. Linux peers update an existing neighbour
// entry for vip from it (and create one if arp_accept is set).
func BuildGratuitous(dst []byte, mac [6]byte, vip [4]byte) []byte {
	return build(dst, Broadcast, mac, OpRequest, mac, vip, Broadcast, vip)
}

func build(dst []byte, ethDstMAC, ethSrcMAC [6]byte, op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) []byte {
	b := dst[:FrameLen]
	copy(b[ethDst:], ethDstMAC[:])
	copy(b[ethSrc:], ethSrcMAC[:])
	binary.BigEndian.PutUint16(b[ethType:], etherTypeARP)
	binary.BigEndian.PutUint16(b[arpHType:], hwEthernet)
	binary.BigEndian.PutUint16(b[arpPType:], etherTypeIP4)
	b[arpHLen] = 6
	b[arpPLen] = 4
	binary.BigEndian.PutUint16(b[arpOp:], op)
	copy(b[arpSHA:], sha[:])
	copy(b[arpSPA:], spa[:])
	copy(b[arpTHA:], tha[:])
	copy(b[arpTPA:], tpa[:])
	clear(b[arpEnd:])
	return b
}
