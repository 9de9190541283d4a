package arp

import (
	"net/netip"

	"github.com/govs-lb/govs/forward"
)

// The frames here are an untagged Ethernet II header followed by ARP for
// IPv4 over Ethernet (RFC 826). Package forward owns both layouts (the
// forward.Ethernet and forward.ARP views); this file builds and reads
// whole frames with them.

const (
	// OpRequest and OpReply are the ARP operation codes.
	OpRequest = forward.ARPRequest
	OpReply   = forward.ARPReply

	// FrameLen is the length of every frame built here: the 42 bytes of
	// Ethernet + ARP padded with zeros to the 60-byte Ethernet minimum
	// (without FCS), as a NIC would pad it on the wire.
	FrameLen = 60

	arpEnd = forward.EthernetHeaderLen + forward.ARPIPv4Len // 42
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
	if len(frame) < arpEnd || forward.Ethernet(frame).Type() != forward.EtherTypeARP {
		return sha, spa, tpa, false
	}
	a := forward.ARP(frame[forward.EthernetHeaderLen:])
	if !a.IsIPv4OverEthernet() || a.Op() != OpRequest {
		return sha, spa, tpa, false
	}
	return a.SenderHardwareAddress(), a.SenderProtocolAddress().As4(), a.TargetProtocolAddress().As4(), true
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
	forward.SetMACs(b, ethDstMAC, ethSrcMAC)
	forward.Ethernet(b).SetType(forward.EtherTypeARP)
	forward.ARP(b[forward.EthernetHeaderLen:]).Encode(op, sha, netip.AddrFrom4(spa), tha, netip.AddrFrom4(tpa))
	clear(b[arpEnd:])
	return b
}
