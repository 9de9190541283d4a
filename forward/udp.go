package forward

import "encoding/binary"

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
