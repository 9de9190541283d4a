package forward

import (
	"encoding/binary"

	"github.com/govs-lb/govs/internal/csum"
)

// TCP header (RFC 9293 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                             data                              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

const (
	tcpSrcPort = 0
	tcpDstPort = 2
	tcpSeq     = 4
	tcpAck     = 8
	tcpDataOff = 12
	tcpFlags   = 13
	tcpWindow  = 14
	tcpCsum    = 16
	tcpUrgent  = 18
)

// TCPMinHeaderLen is the length of a TCP header without options.
const TCPMinHeaderLen = 20

// TCP flags, as in the flags byte (offset 13) and Packet.TCPFlags.
const (
	TCPFlagFIN uint8 = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

// TCP is a view of a TCP header and its data. The caller checks that it
// holds at least DataOffset bytes (Parse does).
//
// The setters that say WithChecksumUpdate keep the checksum field right
// incrementally (RFC 1624). Their fullChecksum argument tells what the
// field holds: true for a complete checksum, false for CHECKSUM_PARTIAL
// (Packet.Partial), where the field is only the uncomplemented
// pseudo-header sum that the NIC or CompleteChecksum finishes. A partial
// field changes with the pseudo-header's addresses, in the opposite sense,
// and not with the ports, as Linux's inet_proto_csum_replace4/2 do.
type TCP []byte

// SourcePort returns the source port.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }

// DestinationPort returns the destination port.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[tcpSeq:]) }

// Ack returns the acknowledgment number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[tcpAck:]) }

// DataOffset returns the header length in bytes (data offset times 4).
func (b TCP) DataOffset() int { return int(b[tcpDataOff]>>4) * 4 }

// Flags returns the flags byte (TCPFlagFIN ... TCPFlagCWR).
func (b TCP) Flags() uint8 { return b[tcpFlags] }

// Window returns the window field.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[tcpWindow:]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpCsum:]) }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[tcpCsum:], v) }

// SetSeq sets the sequence number (the checksum is not updated).
func (b TCP) SetSeq(v uint32) { binary.BigEndian.PutUint32(b[tcpSeq:], v) }

// SetFlags sets the flags byte (the checksum is not updated).
func (b TCP) SetFlags(f uint8) { b[tcpFlags] = f }

// SetSourcePort sets the source port (the checksum is not updated).
func (b TCP) SetSourcePort(port uint16) { binary.BigEndian.PutUint16(b[tcpSrcPort:], port) }

// SetDestinationPort sets the destination port (the checksum is not
// updated).
func (b TCP) SetDestinationPort(port uint16) { binary.BigEndian.PutUint16(b[tcpDstPort:], port) }

// SetSourcePortWithChecksumUpdate sets the source port and updates the
// checksum (see TCP for fullChecksum).
func (b TCP) SetSourcePortWithChecksumUpdate(port uint16, fullChecksum bool) {
	b.setPortWithChecksumUpdate(tcpSrcPort, port, fullChecksum)
}

// SetDestinationPortWithChecksumUpdate sets the destination port and
// updates the checksum (see TCP for fullChecksum).
func (b TCP) SetDestinationPortWithChecksumUpdate(port uint16, fullChecksum bool) {
	b.setPortWithChecksumUpdate(tcpDstPort, port, fullChecksum)
}

func (b TCP) setPortWithChecksumUpdate(off int, port uint16, full bool) {
	if full {
		b.SetChecksum(csum.Update16(b.Checksum(), binary.BigEndian.Uint16(b[off:]), port))
	}
	binary.BigEndian.PutUint16(b[off:], port)
}

// UpdateChecksumPseudoHeaderAddress updates the checksum for an address of
// the pseudo-header (the IP source or destination) changing from old to
// new, given as the bytes in the IP header: 4 for IPv4, 16 for IPv6. See
// TCP for fullChecksum.
func (b TCP) UpdateChecksumPseudoHeaderAddress(old, new []byte, fullChecksum bool) {
	b.SetChecksum(updateAddress(b.Checksum(), old, new, fullChecksum))
}

// TCPFields are the fields of a TCP header, for Encode.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	DataOffset       int // header length in bytes, a multiple of 4 from 20 to 60
	Flags            uint8
	Window           uint16
}

// Encode writes a TCP header with the given fields into
// b[:TCPMinHeaderLen], with checksum and urgent pointer zero; options, if
// DataOffset announces any, are the caller's to write. Set the checksum
// afterwards (SetChecksum), once the data is in place.
func (b TCP) Encode(f *TCPFields) {
	_ = b[TCPMinHeaderLen-1]
	b.SetSourcePort(f.SrcPort)
	b.SetDestinationPort(f.DstPort)
	b.SetSeq(f.Seq)
	binary.BigEndian.PutUint32(b[tcpAck:], f.Ack)
	b[tcpDataOff] = uint8(f.DataOffset/4) << 4
	b.SetFlags(f.Flags)
	binary.BigEndian.PutUint16(b[tcpWindow:], f.Window)
	b.SetChecksum(0)
	binary.BigEndian.PutUint16(b[tcpUrgent:], 0)
}

// updateAddress returns checksum field cs updated for a pseudo-header
// address changing from old to new: csum.UpdateAddress for a full
// checksum, and the same update on the complement for a CHECKSUM_PARTIAL
// field (see csum.UpdateAddress). The TCP and UDP views share it.
func updateAddress(cs uint16, old, new []byte, full bool) uint16 {
	var partial uint16
	if !full {
		partial = 0xffff
	}
	return csum.UpdateAddress(cs^partial, old, new) ^ partial
}
