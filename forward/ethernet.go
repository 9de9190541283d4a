package forward

import "encoding/binary"

// Ethernet II header (IEEE 802.3, RFC 894), optionally followed by one
// IEEE 802.1Q tag:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Destination MAC address                      |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                    Source MAC address                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   EtherType (or TPID 0x8100)  |  802.1Q only: PCP|DEI| VID    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  802.1Q only: inner EtherType |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

const (
	ethDst     = 0
	ethSrc     = 6
	ethType    = 12
	vlanTCI    = 14
	vlanType   = 16
	macLen     = 6
	ethHdrLen  = 14 // EthernetHeaderLen
	vlanHdrLen = 18 // EthernetHeaderLen plus one 802.1Q tag
)

// EtherTypes that Parse recognises.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // IEEE 802.1Q tag protocol identifier
	EtherTypeIPv6 uint16 = 0x86dd
)

// EthernetHeaderLen is the length of an untagged Ethernet II header.
const EthernetHeaderLen = ethHdrLen

// Ethernet is a view of an Ethernet II header at the start of a frame. The
// caller checks that it is at least EthernetHeaderLen bytes long (Parse
// does); the accessors do not re-check.
type Ethernet []byte

// Destination returns the destination MAC address.
func (e Ethernet) Destination() [6]byte { return [6]byte(e[ethDst : ethDst+macLen]) }

// Source returns the source MAC address.
func (e Ethernet) Source() [6]byte { return [6]byte(e[ethSrc : ethSrc+macLen]) }

// Type returns the outer EtherType (EtherTypeVLAN for a tagged frame).
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[ethType:]) }

// SetDestination sets the destination MAC address.
func (e Ethernet) SetDestination(m [6]byte) { copy(e[ethDst:ethDst+macLen], m[:]) }

// SetSource sets the source MAC address.
func (e Ethernet) SetSource(m [6]byte) { copy(e[ethSrc:ethSrc+macLen], m[:]) }

// SetType sets the outer EtherType.
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[ethType:], t) }

// TCI returns the 802.1Q tag control information of a tagged frame (the
// view must be at least 18 bytes long).
func (e Ethernet) TCI() uint16 { return binary.BigEndian.Uint16(e[vlanTCI:]) }

// InnerType returns the EtherType after the 802.1Q tag of a tagged frame.
func (e Ethernet) InnerType() uint16 { return binary.BigEndian.Uint16(e[vlanType:]) }

// SetMACs sets the destination and source MAC addresses of frame, which
// must be at least 12 bytes long (any frame Parse accepted is). Nothing
// else changes; no checksum covers the MACs.
func SetMACs(frame []byte, dst, src [6]byte) {
	_ = frame[ethSrc+macLen-1]
	copy(frame[ethDst:ethDst+macLen], dst[:])
	copy(frame[ethSrc:ethSrc+macLen], src[:])
}
