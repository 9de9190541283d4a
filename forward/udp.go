package forward

import (
	"encoding/binary"

	"github.com/govs-lb/govs/internal/csum"
)

// UDP header (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|
//	|          data octets ...
//	+---------------- ...
//
// A checksum of zero means "no checksum"; a computed checksum of zero is
// sent as 0xffff.

const (
	udpSrcPort = 0
	udpDstPort = 2
	udpLength  = 4
	udpCsum    = 6
)

// UDPHeaderLen is the length of a UDP header.
const UDPHeaderLen = 8

// UDP is a view of a UDP header and its data. The caller checks that it
// holds at least UDPHeaderLen bytes (Parse does).
//
// The WithChecksumUpdate setters work as TCP's (fullChecksum included) and
// keep RFC 768's zero rule for a full checksum: a field of zero (no
// checksum) stays zero, and an updated checksum that comes out as zero is
// written as 0xffff.
//
// Its port and checksum setters mirror TCP's on purpose, as gVisor's
// header package has them: the two views differ in their offsets and in
// UDP's zero-checksum rule, and a shared implementation behind an
// interface would cost the per-packet path an indirect call.
type UDP []byte

// SourcePort returns the source port.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DestinationPort returns the destination port.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the length field (header plus data).
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// Checksum returns the checksum field (0: none).
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpCsum:]) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[udpCsum:], v) }

// SetSourcePort sets the source port (the checksum is not updated).
func (b UDP) SetSourcePort(port uint16) { binary.BigEndian.PutUint16(b[udpSrcPort:], port) }

// SetDestinationPort sets the destination port (the checksum is not
// updated).
func (b UDP) SetDestinationPort(port uint16) { binary.BigEndian.PutUint16(b[udpDstPort:], port) }

// SetSourcePortWithChecksumUpdate sets the source port and updates the
// checksum (see UDP).
func (b UDP) SetSourcePortWithChecksumUpdate(port uint16, fullChecksum bool) {
	b.setPortWithChecksumUpdate(udpSrcPort, port, fullChecksum)
}

// SetDestinationPortWithChecksumUpdate sets the destination port and
// updates the checksum (see UDP).
func (b UDP) SetDestinationPortWithChecksumUpdate(port uint16, fullChecksum bool) {
	b.setPortWithChecksumUpdate(udpDstPort, port, fullChecksum)
}

func (b UDP) setPortWithChecksumUpdate(off int, port uint16, full bool) {
	if cs := b.Checksum(); full && cs != 0 {
		b.SetChecksum(mangleZero(csum.Update16(cs, binary.BigEndian.Uint16(b[off:]), port)))
	}
	binary.BigEndian.PutUint16(b[off:], port)
}

// UpdateChecksumPseudoHeaderAddress updates the checksum for an address of
// the pseudo-header changing from old to new (4 bytes for IPv4, 16 for
// IPv6), as TCP's does, with the zero rule (see UDP).
func (b UDP) UpdateChecksumPseudoHeaderAddress(old, new []byte, fullChecksum bool) {
	switch cs := b.Checksum(); {
	case !fullChecksum:
		b.SetChecksum(updateAddress(cs, old, new, false))
	case cs != 0:
		b.SetChecksum(mangleZero(updateAddress(cs, old, new, true)))
	}
}

// mangleZero returns a computed UDP checksum as it is sent: zero means "no
// checksum", so a computed zero goes out as 0xffff, the other
// representation of zero in ones' complement (RFC 768; Linux's
// CSUM_MANGLED_0).
func mangleZero(cs uint16) uint16 {
	if cs == 0 {
		return 0xffff
	}
	return cs
}

// UDPFields are the fields of a UDP header, for Encode.
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16 // header plus data
}

// Encode writes a UDP header with the given fields into b[:UDPHeaderLen],
// with checksum zero (none); set it afterwards if wanted.
func (b UDP) Encode(f *UDPFields) {
	_ = b[UDPHeaderLen-1]
	b.SetSourcePort(f.SrcPort)
	b.SetDestinationPort(f.DstPort)
	binary.BigEndian.PutUint16(b[udpLength:], f.Length)
	b.SetChecksum(0)
}
