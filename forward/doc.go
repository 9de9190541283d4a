// Package forward is govs's packet layer: it parses Ethernet/IPv4 frames
// and rewrites them for the four IPVS forwarding methods, in place, with no
// I/O, no syscalls and no allocation.
//
// # Parsing
//
// A worker owns one Packet and parses every frame into it:
//
//	var p forward.Packet
//	if err := forward.Parse(frame, &p); err != nil {
//		drops[err.(forward.ParseError)]++ // ErrShort, ErrBadIHL, ...
//		continue
//	}
//	switch {
//	case p.EtherType == forward.EtherTypeARP: // answered elsewhere
//	case p.Proto == forward.ProtoTCP:         // p.Src, p.DstPort, p.TCPFlags ...
//	}
//
// Packet is pointer-free: offsets into the frame (L3, L4, End, and
// Inner.L3/L4 for the datagram an ICMP error quotes) and copies of the
// header fields. Parse checks every length once; the header views (Ethernet,
// ARP, IPv4, TCP, UDP, ICMPv4, typed []byte in the style of gVisor's
// pkg/tcpip/header) then index without checking again. Parse never panics
// on any input and does not verify checksums (IPv4.ChecksumValid and
// TransportChecksumValid do, when the caller wants it). Every error it
// returns is a ParseError, a small integer with a metrics name (Name).
// ParseIPv4 validates a bare IPv4 packet the same way, for code that has
// no Ethernet header (IPIP decapsulation).
//
// # Header layouts
//
// This package is the one place that knows where header fields are. Each
// header file opens with its RFC diagram and unexported offsets; the
// views' accessors and Encode methods read and write the fields, and the
// setters that change a checksummed field update the checksum
// (SetDestinationPortWithChecksumUpdate, UpdateChecksumPseudoHeaderAddress,
// IPv4.SetSourceWithChecksumUpdate). Programs that load fields themselves
// (socket filters, XDP, nftables rules) use the exported offsets
// (EthernetTypeOffset, IPv4ProtocolOffset, ARPOpOffset, ...). Addresses
// are netip.Addr at the views' APIs, or address bytes where a checksum
// covers them, so that IPv6 views can sit beside the IPv4 ones.
//
// # Rewriting
//
// Every rewriter takes the frame and the Packet that Parse filled for it,
// changes the frame in place and keeps the Packet in step:
//
//   - RewriteDR (direct routing, -g): MACs only.
//   - RewriteLocal (LocalNode): destination MAC of the tap only.
//   - EncapIPIP (tunnel, -i): outer Ethernet and IPv4 headers written into
//     headroom in front of the packet; NeedFragICMP and BuildFragNeeded
//     answer packets that would not fit the path MTU.
//   - MasqIn, MasqOut (NAT, -m): destination or source address and port,
//     with the IPv4 and TCP/UDP checksums updated incrementally (RFC 1624,
//     package internal/csum), including CHECKSUM_PARTIAL frames
//     (Packet.Partial) and UDP without checksum. MasqICMPIn and MasqICMPOut
//     translate the ICMP errors of masqueraded connections as IPVS's
//     ip_vs_nat_icmp does. SetMACs sets the MACs afterwards.
//   - BuildEchoReply answers a ping to a VIP in place.
//   - CompleteChecksum fills in a checksum the sender left to offload;
//     SegmentTCP splits a GRO/TSO super-frame into MSS-sized frames.
//
// # The zero-allocation and headroom contract
//
// Frames belong to the caller; nothing here allocates, retains a frame or
// a Packet, or copies a packet it can rewrite in place (the tests enforce
// zero allocations with testing.AllocsPerRun). Buffers from the capture
// ring or pool must keep Headroom (20) bytes free in front of every frame:
// EncapIPIP writes the new Ethernet and outer IPv4 headers there, so
// tunnelling never moves the packet:
//
//	buf := pool.Get()                            // len(buf) >= forward.Headroom + snaplen
//	n := ring.Read(buf[forward.Headroom:])       // frame at buf[Headroom:Headroom+n]
//	frame := buf[forward.Headroom : forward.Headroom+n]
//	_ = forward.Parse(frame, &p)
//	out := forward.EncapIPIP(buf[:forward.Headroom+n], forward.Headroom, &p, dip, rip, id, ifMAC, gwMAC)
//
// Functions that build a new packet (BuildFragNeeded, SegmentTCP) write
// into a buffer the caller passes.
//
// IPv4 only for now; Packet and the rewriters keep [4]byte addresses, as
// pointer-free hot structures do.
package forward
