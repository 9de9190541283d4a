package forward

import (
	"encoding/binary"

	"github.com/govs-lb/govs/internal/csum"
)

// Headroom is the space a caller leaves in front of every frame so that
// EncapIPIP can put the outer IPv4 header there without copying the
// packet. The new Ethernet header and the outer IPv4 header (14+20 bytes)
// end where the inner IPv4 header starts, so they reach 20 bytes before an
// untagged frame (16 before a tagged one, whose header is 4 bytes longer).
const Headroom = IPv4MinHeaderLen

// EncapIPIP encapsulates the IPv4 packet of a frame in IPIP (RFC 2003) for
// a tunnelled realserver (IPVS -i). The frame lives at buf[frameOff:] and
// the caller has left at least Headroom (20) bytes in front of it. The new
// frame is built in place, in front of the inner IPv4 header, which is not
// moved or copied:
//
//	buf: [ headroom ][ eth (+vlan) ][ inner IPv4 packet ][ padding ]
//	out:   [ eth ][ outer IPv4 ][ inner IPv4 packet ]
//
// The new Ethernet header is untagged (any 802.1Q tag is dropped), from
// srcMAC to dstMAC. The outer IPv4 header has no options, protocol 4, src
// and dst as given (director address, realserver), the given ID, DF set,
// TOS and TTL copied from the inner header, and a correct checksum.
// Trailing bytes after the inner packet are left out of out.
//
// EncapIPIP returns nil and changes nothing when the headroom is too small
// or the result would exceed 65535 bytes of IP. It does not update *p, which
// still describes the inner packet at its old offsets from frameOff.
// Callers check the path MTU first (NeedFragICMP).
func EncapIPIP(buf []byte, frameOff int, p *Packet, src, dst [4]byte, id uint16, srcMAC, dstMAC [6]byte) []byte {
	inner := frameOff + p.L3
	start := inner - IPv4MinHeaderLen - ethHdrLen
	innerLen := p.End - p.L3
	if frameOff < 0 || start < 0 || innerLen+IPv4MinHeaderLen > 0xffff || frameOff+p.End > len(buf) {
		return nil
	}
	out := buf[start : frameOff+p.End]
	SetMACs(out, dstMAC, srcMAC)
	Ethernet(out).SetType(EtherTypeIPv4)
	encodeIPv4(IPv4(out[ethHdrLen:]), p.TOS, uint16(innerLen+IPv4MinHeaderLen), id, ipFlagDF,
		p.TTL, ProtoIPIP, src, dst)
	return out
}

// NeedFragICMP reports whether an IPIP-encapsulated packet would exceed
// mtu and may not be fragmented: the inner total length plus the 20-byte
// outer header is over mtu and the inner packet has DF. The caller then
// answers with BuildFragNeeded instead of forwarding. (An inner packet
// without DF that does not fit has to be fragmented, or dropped, by the
// caller: EncapIPIP always sets DF on the outer header.)
func NeedFragICMP(p *Packet, mtu int) bool {
	return p.End-p.L3+IPv4MinHeaderLen > mtu && p.DontFrag
}

// FragNeededLen returns the length of the frame BuildFragNeeded writes for
// p: Ethernet, IPv4 and ICMP headers and the quote.
func FragNeededLen(p *Packet) int {
	return ethHdrLen + IPv4MinHeaderLen + ICMPHeaderLen + fragQuoteLen(p)
}

// fragQuoteLen is the quoted part of the original datagram: its IPv4
// header and 8 bytes of payload (RFC 792, RFC 1191), or less when the
// datagram is shorter.
func fragQuoteLen(p *Packet) int {
	return min(p.L4-p.L3+icmpQuoteMin, p.End-p.L3)
}

// fragNeededTOS is the TOS of ICMP errors, as Linux's icmp_send:
// IPTOS_PREC_INTERNETCONTROL.
const fragNeededTOS = 0xc0

// BuildFragNeeded writes into dst an ICMP "fragmentation needed and DF
// set" (type 3, code 4, RFC 1191) about the packet of frame (parsed into
// p) that does not fit the tunnel: next-hop MTU mtu-20, quoting the
// original IPv4 header and its first 8 bytes of payload. It goes from src
// (the director's address) to the packet's source, in an untagged Ethernet
// frame from srcMAC to dstMAC, IP TTL 64. It returns dst[:n], or nil when
// dst is shorter than FragNeededLen(p) or mtu-20 is not a 16-bit value.
func BuildFragNeeded(dst []byte, p *Packet, frame []byte, mtu int, src [4]byte, srcMAC, dstMAC [6]byte) []byte {
	n := FragNeededLen(p)
	if len(dst) < n || mtu < IPv4MinHeaderLen || mtu-IPv4MinHeaderLen > 0xffff {
		return nil
	}
	out := dst[:n]
	SetMACs(out, dstMAC, srcMAC)
	Ethernet(out).SetType(EtherTypeIPv4)
	encodeIPv4(IPv4(out[ethHdrLen:]), fragNeededTOS, uint16(n-ethHdrLen), 0, 0,
		echoReplyTTL, ProtoICMP, src, p.Src)
	m := ICMPv4(out[ethHdrLen+IPv4MinHeaderLen:])
	m[icmpType], m[icmpCode] = ICMPDestUnreach, ICMPCodeFragNeeded
	m[icmpCsum], m[icmpCsum+1] = 0, 0
	m[icmpID], m[icmpID+1] = 0, 0
	binary.BigEndian.PutUint16(m[icmpMTU:], uint16(mtu-IPv4MinHeaderLen))
	copy(m[ICMPHeaderLen:], frame[p.L3:p.L3+fragQuoteLen(p)])
	m.SetChecksum(^csum.Checksum(m, 0))
	return out
}
