package forward

import (
	"encoding/binary"

	"github.com/govs-lb/govs/internal/csum"
)

// The rewriters below change a frame in place. Each takes the *Packet that
// a successful Parse of the same frame filled; with anything else their
// behaviour is undefined (they may panic). None allocates. They keep *p in
// step with the frame (addresses, ports, ICMP type), so a rewritten frame
// can be rewritten again without parsing it again.

// RewriteDR prepares a frame for direct routing (IPVS "gatewaying", -g):
// the destination MAC becomes the realserver's, the source MAC the outgoing
// interface's. Nothing else changes: the realserver owns the VIP itself.
func RewriteDR(frame []byte, p *Packet, dstMAC, srcMAC [6]byte) {
	SetMACs(frame, dstMAC, srcMAC)
}

// RewriteLocal prepares a frame for a LocalNode destination: the
// destination MAC becomes the tap's, so that the host stack accepts it. The
// source MAC and the IP packet are untouched.
func RewriteLocal(frame []byte, p *Packet, tapMAC [6]byte) {
	copy(frame[ethDst:ethDst+macLen], tapMAC[:])
}

// MasqIn translates a client's packet for a masqueraded (NAT, -m)
// realserver: destination VIP:vport becomes rip:rport. The IPv4 header
// checksum and the TCP/UDP checksum are updated incrementally (RFC 1624):
// a UDP checksum of zero (none) stays zero, a CHECKSUM_PARTIAL field
// (p.Partial) gets only the address change, in the partial sense. A later
// fragment (FragOff > 0) has only its IP header translated. Protocols other
// than TCP and UDP have only the address translated. MACs are set
// separately (SetMACs).
func MasqIn(frame []byte, p *Packet, rip [4]byte, rport uint16) {
	IPv4(frame[p.L3:p.L4]).setAddressWithChecksumUpdate(ipDst, rip)
	if p.hasPorts() {
		l4, full := frame[p.L4:p.End], !p.Partial
		if p.Proto == ProtoTCP {
			TCP(l4).UpdateChecksumPseudoHeaderAddress(p.Dst[:], rip[:], full)
			TCP(l4).SetDestinationPortWithChecksumUpdate(rport, full)
		} else {
			UDP(l4).UpdateChecksumPseudoHeaderAddress(p.Dst[:], rip[:], full)
			UDP(l4).SetDestinationPortWithChecksumUpdate(rport, full)
		}
		p.DstPort = rport
	}
	p.Dst = rip
}

// MasqIn and MasqOut mirror each other (destination in, source out), as
// the kernel's ip_vs_nat_xmit and ip_vs_snat_*_handler do; a helper taking
// the direction measured slower on the per-packet path.
//
// MasqOut translates a masqueraded realserver's reply back to the client:
// source rip:rport becomes VIP:vport. Checksums as in MasqIn.
func MasqOut(frame []byte, p *Packet, vip [4]byte, vport uint16) {
	IPv4(frame[p.L3:p.L4]).setAddressWithChecksumUpdate(ipSrc, vip)
	if p.hasPorts() {
		l4, full := frame[p.L4:p.End], !p.Partial
		if p.Proto == ProtoTCP {
			TCP(l4).UpdateChecksumPseudoHeaderAddress(p.Src[:], vip[:], full)
			TCP(l4).SetSourcePortWithChecksumUpdate(vport, full)
		} else {
			UDP(l4).UpdateChecksumPseudoHeaderAddress(p.Src[:], vip[:], full)
			UDP(l4).SetSourcePortWithChecksumUpdate(vport, full)
		}
		p.SrcPort = vport
	}
	p.Src = vip
}

// MasqICMPIn translates an ICMP error that arrives from the client side
// about a masqueraded connection, as IPVS's ip_vs_nat_icmp does for
// packets going in (ip_vs_in_icmp). Such an error quotes a packet that the
// director sent to the client, VIP:vport -> client, so:
//
//   - outer destination VIP -> rip (IPv4 header checksum updated);
//   - quoted source VIP -> rip and, for TCP/UDP, quoted source port
//     vport -> rport; the quoted IPv4 header checksum is recomputed;
//   - the ICMP checksum is recomputed over the ICMP message.
//
// Like the kernel, it leaves the quoted TCP/UDP checksum alone: the quote
// is usually truncated before it, and no receiver checks it.
//
// Only the errors IsICMPError names are translated (destination
// unreachable, source quench, time exceeded): MasqICMPIn returns false and
// changes nothing for any other packet (p.HasInner is false).
func MasqICMPIn(frame []byte, p *Packet, rip [4]byte, rport uint16) bool {
	if !p.HasInner {
		return false
	}
	q := &p.Inner
	IPv4(frame[p.L3:p.L4]).setAddressWithChecksumUpdate(ipDst, rip)
	IPv4(frame[q.L3:q.L4]).setAddress(ipSrc, rip)
	p.Dst, q.Src = rip, rip
	if q.HasPorts {
		quotedPorts(frame, q).SetSourcePort(rport)
		q.SrcPort = rport
	}
	finishICMPError(frame, p)
	return true
}

// MasqICMPOut translates an ICMP error that a masqueraded realserver (or a
// router on its side) sends back about a connection, as IPVS's
// ip_vs_nat_icmp does for packets going out (ip_vs_out_icmp). Such an
// error quotes a packet that the director forwarded to the realserver,
// client -> rip:rport, so:
//
//   - outer source -> vip (IPv4 header checksum updated);
//   - quoted destination -> vip and, for TCP/UDP, quoted destination port
//     -> vport; the quoted IPv4 header checksum is recomputed;
//   - the ICMP checksum is recomputed over the ICMP message.
//
// It returns false and changes nothing unless p.HasInner.
func MasqICMPOut(frame []byte, p *Packet, vip [4]byte, vport uint16) bool {
	if !p.HasInner {
		return false
	}
	q := &p.Inner
	IPv4(frame[p.L3:p.L4]).setAddressWithChecksumUpdate(ipSrc, vip)
	IPv4(frame[q.L3:q.L4]).setAddress(ipDst, vip)
	p.Src, q.Dst = vip, vip
	if q.HasPorts {
		quotedPorts(frame, q).SetDestinationPort(vport)
		q.DstPort = vport
	}
	finishICMPError(frame, p)
	return true
}

// quotedPorts returns the start of the TCP or UDP header quoted in an ICMP
// error as a UDP view: the quote holds its first 8 bytes (Parse checked),
// and TCP and UDP headers both begin with the source and destination port,
// which is all the ICMP translation changes (ip_vs_nat_icmp also writes
// them as a port pair whatever the protocol). No checksum is updated.
func quotedPorts(frame []byte, q *Quoted) UDP {
	return UDP(frame[q.L4 : q.L4+UDPHeaderLen])
}

// finishICMPError recomputes the quoted IPv4 header checksum and the ICMP
// checksum (ip_send_check(ciph) and ip_vs_checksum_complete in IPVS).
func finishICMPError(frame []byte, p *Packet) {
	q := IPv4(frame[p.Inner.L3:p.Inner.L4])
	q.SetChecksum(q.CalculateChecksum())
	m := ICMPv4(frame[p.L4:p.End])
	m.SetChecksum(0)
	m.SetChecksum(^csum.Checksum(m, 0))
}

// echoReplyTTL is the TTL of echo replies, Linux's default (sysctl
// net.ipv4.ip_default_ttl).
const echoReplyTTL = 64

// BuildEchoReply turns an ICMP echo request (to a VIP) into its reply in
// place: MACs swapped, addresses swapped (which leaves the IPv4 header
// checksum as it is), TTL set to 64, type 0 and code 0; checksums updated
// incrementally. IP options and the echo data are kept. It returns false
// and changes nothing unless p is an unfragmented echo request.
func BuildEchoReply(frame []byte, p *Packet) bool {
	if p.Proto != ProtoICMP || p.ICMPType != ICMPEcho || p.IsFragment() {
		return false
	}
	eth := Ethernet(frame)
	dst, src := eth.Destination(), eth.Source()
	eth.SetDestination(src)
	eth.SetSource(dst)

	ip := IPv4(frame[p.L3:p.L4])
	ip.setAddress(ipSrc, p.Dst)
	ip.setAddress(ipDst, p.Src)
	ip.SetTTLWithChecksumUpdate(echoReplyTTL)
	p.Src, p.Dst = p.Dst, p.Src
	p.TTL = echoReplyTTL

	m := ICMPv4(frame[p.L4:p.End])
	old := binary.BigEndian.Uint16(m[icmpType:])
	m[icmpType], m[icmpCode] = ICMPEchoReply, 0
	m.SetChecksum(csum.Update16(m.Checksum(), old, 0))
	p.ICMPType, p.ICMPCode = ICMPEchoReply, 0
	return true
}

// CompleteChecksum finishes the transport checksum of a frame captured
// with its checksum not yet computed (TP_STATUS_CSUMNOTREADY, or
// virtio_net_hdr with VIRTIO_NET_HDR_F_NEEDS_CSUM): csumStart is the offset
// in the frame where the checksummed region starts and csumOffset the
// offset of the checksum field from csumStart, as in struct
// virtio_net_hdr.
//
// For TCP and UDP with csumStart at the transport header and the field at
// its usual place, the checksum is computed from scratch, pseudo-header
// included, whatever the field held. Otherwise it is completed as Linux's
// skb_checksum_help does: the sum of frame[csumStart:p.End] with the field
// as found (the pseudo-header sum) is folded and complemented into the
// field. A result of zero is written as 0xffff (CSUM_MANGLED_0, see
// mangleZero). It clears
// p.Partial and returns true, or returns false and changes nothing when the
// offsets are outside the IP packet.
func CompleteChecksum(frame []byte, p *Packet, csumStart, csumOffset int) bool {
	if csumStart < p.L3 || csumOffset < 0 || csumStart > p.End || p.End-csumStart < csumOffset+2 {
		return false
	}
	field := csumStart + csumOffset
	var sum uint16
	if csumStart == p.L4 && field == transportChecksumField(p) {
		frame[field], frame[field+1] = 0, 0
		sum = transportSum(frame, p)
	} else {
		sum = csum.Checksum(frame[csumStart:p.End], 0)
	}
	binary.BigEndian.PutUint16(frame[field:], mangleZero(^sum))
	p.Partial = false
	return true
}

// SetTransportChecksum computes the TCP or UDP checksum of the packet that
// Parse filled p for from scratch, pseudo-header included, whatever the
// field held (CompleteChecksum at the field's usual place), and writes it;
// a result of zero is written as 0xffff (see mangleZero; TCP receivers
// take it as the same number). It clears p.Partial and returns true, or
// returns false and changes nothing unless p is a whole TCP or UDP
// segment (not a fragment), whose checksum covers all of it.
func SetTransportChecksum(frame []byte, p *Packet) bool {
	field := transportChecksumField(p)
	return field >= 0 && CompleteChecksum(frame, p, p.L4, field-p.L4)
}

// TransportChecksumValid reports whether the TCP or UDP checksum of the
// packet Parse filled p for is right, as a receiver checks it: the sum
// over pseudo-header and segment is all ones, or a UDP checksum is zero
// (none). It is false for anything SetTransportChecksum refuses.
func TransportChecksumValid(frame []byte, p *Packet) bool {
	field := transportChecksumField(p)
	if field < 0 {
		return false
	}
	if p.Proto == ProtoUDP && UDP(frame[p.L4:p.End]).Checksum() == 0 {
		return true
	}
	return transportSum(frame, p) == 0xffff
}

// transportChecksumField returns the offset in the frame of p's TCP or UDP
// checksum field, or -1 unless p is a whole TCP or UDP segment.
func transportChecksumField(p *Packet) int {
	switch {
	case !p.hasPorts() || p.MoreFrags:
		return -1
	case p.Proto == ProtoTCP:
		return p.L4 + tcpCsum
	default:
		return p.L4 + udpCsum
	}
}

// transportSum returns the sum over p's TCP or UDP segment, checksum field
// as found, and its pseudo-header.
func transportSum(frame []byte, p *Packet) uint16 {
	ph := csum.IPv4PseudoHeader(p.Src, p.Dst, p.Proto, uint16(p.End-p.L4))
	return csum.Checksum(frame[p.L4:p.End], ph)
}
