package forward

import "encoding/binary"

// Packet is what Parse learns about one frame: offsets into the frame and
// the header fields the balancer looks at. It holds no pointer (the frame is
// not retained), so a worker keeps one on its stack or in a pointer-free
// array and reuses it for every frame.
//
// Offsets count from the start of the frame that was parsed.
type Packet struct {
	// EtherType is the type after the 802.1Q tag, if any (EtherTypeIPv4,
	// EtherTypeARP, ...). For ARP, Parse fills only the Ethernet fields.
	EtherType uint16
	// VLANTCI is the 802.1Q tag control information when Tagged.
	VLANTCI uint16
	Tagged  bool

	// Partial is not set by Parse: the capture layer sets it when the
	// frame's TCP/UDP checksum is CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY,
	// virtio_net_hdr NEEDS_CSUM), so that the field holds the pseudo-header
	// sum only. The masquerading rewriters then update it as Linux does.
	Partial bool

	// L3 is the offset of the IPv4 header, L4 that of the transport header
	// (L3 plus the IHL), End one past the IP packet (L3 plus total length;
	// bytes after End, such as Ethernet padding, are not part of it).
	L3, L4, End int

	Proto    uint8   // IP protocol
	TOS, TTL uint8   // from the IPv4 header
	Src, Dst [4]byte // IPv4 addresses
	ID       uint16  // IPv4 identification
	// FragOff is the fragment offset in bytes; MoreFrags and DontFrag are
	// the MF and DF flags. A packet is a fragment when MoreFrags or
	// FragOff > 0; only the first fragment (FragOff == 0) has the
	// transport header, so ports and TCP flags are zero on the others.
	FragOff   int
	MoreFrags bool
	DontFrag  bool

	// SrcPort and DstPort are the TCP/UDP ports (zero otherwise).
	SrcPort, DstPort uint16
	// TCPFlags is the TCP flags byte; TCPHdrLen the TCP header length.
	TCPFlags  uint8
	TCPHdrLen uint8

	// ICMPType and ICMPCode are set for ICMP; EchoID is the identifier of
	// an echo request or reply.
	ICMPType, ICMPCode uint8
	EchoID             uint16

	// Inner describes the datagram quoted by an ICMP error (IsICMPError);
	// HasInner tells whether it is set.
	HasInner bool
	Inner    Quoted
}

// Quoted is the original datagram quoted in an ICMP error: its IPv4 header
// and at least the first 8 bytes of its payload.
type Quoted struct {
	// L3 and L4 are offsets in the frame of the quoted IPv4 header and of
	// its transport header.
	L3, L4           int
	Proto            uint8
	Src, Dst         [4]byte
	SrcPort, DstPort uint16 // TCP/UDP of a first fragment only
	HasPorts         bool   // SrcPort and DstPort are set
}

// IsFragment reports whether the packet is an IPv4 fragment.
func (p *Packet) IsFragment() bool { return p.MoreFrags || p.FragOff != 0 }

// hasPorts reports whether the packet carries a TCP or UDP header.
func (p *Packet) hasPorts() bool {
	return (p.Proto == ProtoTCP || p.Proto == ProtoUDP) && p.FragOff == 0
}

// Parse decodes frame into *p. The frame is an Ethernet II frame, with at
// most one 802.1Q tag, carrying IPv4 (TCP, UDP, ICMP or any other protocol)
// or ARP. Every length is checked here, once; a frame that is short or
// malformed returns a ParseError (ErrShort, ErrBadIHL, ...) and leaves *p
// partly filled. Parse never panics and never allocates.
//
// Parse does not verify any checksum (see IPv4.ChecksumValid) and accepts IP
// options, fragments and trailing bytes after the IP packet (End marks where
// it ends).
//
// Parse, the one validator every packet goes through, reads each field at
// its offset once rather than through the views: through them the compiler
// reloads shared words (flags and fragment offset) and re-checks bounds,
// which measured about 0.5 ns slower per packet.
func Parse(frame []byte, p *Packet) error {
	*p = Packet{}
	if len(frame) < ethHdrLen {
		return ErrShort
	}
	l3 := ethHdrLen
	et := binary.BigEndian.Uint16(frame[ethType:])
	if et == EtherTypeVLAN {
		if len(frame) < vlanHdrLen {
			return ErrShort
		}
		p.Tagged = true
		p.VLANTCI = binary.BigEndian.Uint16(frame[vlanTCI:])
		et = binary.BigEndian.Uint16(frame[vlanType:])
		l3 = vlanHdrLen
	}
	p.EtherType = et
	switch et {
	case EtherTypeIPv4:
	case EtherTypeARP:
		return nil
	default:
		return ErrEtherType
	}

	ip := frame[l3:]
	hl, tl, ok := ipv4Lengths(ip)
	if !ok {
		return ipv4Error(ip)
	}
	ip = ip[:tl]
	p.L3 = l3
	p.L4 = l3 + hl
	p.End = l3 + tl
	p.TOS = ip[ipTOS]
	p.TTL = ip[ipTTL]
	p.Proto = ip[ipProto]
	p.ID = binary.BigEndian.Uint16(ip[ipID:])
	ff := binary.BigEndian.Uint16(ip[ipFlagsOff:])
	p.FragOff = int(ff&ipOffsetMask) * 8
	p.MoreFrags = ff&ipFlagMF != 0
	p.DontFrag = ff&ipFlagDF != 0
	p.Src = [4]byte(ip[ipSrc : ipSrc+4])
	p.Dst = [4]byte(ip[ipDst : ipDst+4])
	if p.FragOff != 0 {
		return nil // no transport header in a later fragment
	}

	l4 := ip[hl:]
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < TCPMinHeaderLen {
			return ErrShort
		}
		doff := int(l4[tcpDataOff]>>4) * 4
		if doff < TCPMinHeaderLen || doff > len(l4) {
			return ErrBadDataOffset
		}
		p.SrcPort = binary.BigEndian.Uint16(l4[tcpSrcPort:])
		p.DstPort = binary.BigEndian.Uint16(l4[tcpDstPort:])
		p.TCPFlags = l4[tcpFlags]
		p.TCPHdrLen = uint8(doff)
	case ProtoUDP:
		if len(l4) < UDPHeaderLen {
			return ErrShort
		}
		p.SrcPort = binary.BigEndian.Uint16(l4[udpSrcPort:])
		p.DstPort = binary.BigEndian.Uint16(l4[udpDstPort:])
	case ProtoICMP:
		if len(l4) < ICMPHeaderLen {
			return ErrShort
		}
		p.ICMPType = l4[icmpType]
		p.ICMPCode = l4[icmpCode]
		switch {
		case p.ICMPType == ICMPEcho || p.ICMPType == ICMPEchoReply:
			p.EchoID = binary.BigEndian.Uint16(l4[icmpID:])
		case IsICMPError(p.ICMPType) && !p.MoreFrags:
			if err := parseQuoted(l4[ICMPHeaderLen:], p.L4+ICMPHeaderLen, &p.Inner); err != nil {
				return err
			}
			p.HasInner = true
		}
	}
	return nil
}

// ParseIPv4 validates the IPv4 header at the start of b, once, and returns
// it as a view trimmed to the packet's total length, so that the view's
// accessors (Payload included) index without checking again. It checks
// that the version is 4, the header length (IHL) at least 20 bytes and
// within b, and the total length at least the header length and within b
// (bytes after it, such as Ethernet padding, are left out). A failure is
// ErrShort, ErrBadVersion, ErrBadIHL or ErrBadLength, as from Parse, which
// uses it. It does not verify the checksum (IPv4.ChecksumValid does) and
// never allocates.
func ParseIPv4(b []byte) (IPv4, error) {
	_, tl, ok := ipv4Lengths(b)
	if !ok {
		return nil, ipv4Error(b)
	}
	return IPv4(b[:tl]), nil
}

// ipv4Lengths is the check ParseIPv4 and Parse make, with as few branches
// as the per-packet path can take: it returns the header and total
// lengths of the IPv4 header at the start of b, and whether they and the
// version are valid. ipv4Error then says why not.
func ipv4Lengths(b []byte) (hl, tl int, ok bool) {
	if len(b) < IPv4MinHeaderLen {
		return 0, 0, false
	}
	hl = int(b[ipVerIHL]&0x0f) * 4
	tl = int(binary.BigEndian.Uint16(b[ipTotalLen:]))
	return hl, tl, b[ipVerIHL]>>4 == 4 && hl >= IPv4MinHeaderLen && hl <= tl && tl <= len(b)
}

// ipv4Error returns why ipv4Lengths refused b, the first reason in the
// order ParseIPv4 documents: short, version, IHL, then total length. It
// is kept out of line: refused packets are rare, and Parse's fast path
// stays shorter without it.
//
//go:noinline
func ipv4Error(b []byte) ParseError {
	switch {
	case len(b) < IPv4MinHeaderLen:
		return ErrShort
	case b[ipVerIHL]>>4 != 4:
		return ErrBadVersion
	}
	hl := int(b[ipVerIHL]&0x0f) * 4
	switch {
	case hl < IPv4MinHeaderLen:
		return ErrBadIHL
	case len(b) < hl:
		return ErrShort
	}
	return ErrBadLength
}

// parseQuoted decodes the datagram quoted by an ICMP error: b starts at the
// quoted IPv4 header, at offset off in the frame. The quote may be
// truncated (its total length is not checked against b), but it must hold
// the whole quoted header and 8 more bytes.
func parseQuoted(b []byte, off int, q *Quoted) error {
	if len(b) < IPv4MinHeaderLen {
		return ErrBadICMPQuote
	}
	hl := int(b[ipVerIHL]&0x0f) * 4
	if b[ipVerIHL]>>4 != 4 || hl < IPv4MinHeaderLen || len(b) < hl+icmpQuoteMin {
		return ErrBadICMPQuote
	}
	q.L3 = off
	q.L4 = off + hl
	q.Proto = b[ipProto]
	q.Src = [4]byte(b[ipSrc : ipSrc+4])
	q.Dst = [4]byte(b[ipDst : ipDst+4])
	if (q.Proto == ProtoTCP || q.Proto == ProtoUDP) &&
		binary.BigEndian.Uint16(b[ipFlagsOff:])&ipOffsetMask == 0 {
		q.SrcPort = binary.BigEndian.Uint16(b[hl:])
		q.DstPort = binary.BigEndian.Uint16(b[hl+2:])
		q.HasPorts = true
	}
	return nil
}
