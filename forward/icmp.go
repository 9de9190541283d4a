package forward

import "encoding/binary"

// ICMP for IPv4 (RFC 792). Every message starts with type, code and a
// checksum over the whole ICMP message; the next four bytes depend on the
// type:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   echo (8) and echo reply (0): Identifier | Sequence Number   |
//	|   dest unreachable (3), code 4: unused    | Next-Hop MTU      |
//	|     (RFC 1191)                                                |
//	|   dest unreachable (3), source quench (4), time exceeded     |
//	|     (11): unused (zero)                                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   echo: data ...                                              |
//	|   errors: Internet Header + 64 bits of Original Data Datagram |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

const (
	icmpType = 0
	icmpCode = 1
	icmpCsum = 2
	icmpID   = 4
	icmpSeq  = 6
	icmpMTU  = 6
)

// ICMPHeaderLen is the length of the fixed ICMP header (type, code,
// checksum and the four type-specific bytes).
const ICMPHeaderLen = 8

// ICMP types that Parse distinguishes.
const (
	ICMPEchoReply      uint8 = 0
	ICMPDestUnreach    uint8 = 3
	ICMPSourceQuench   uint8 = 4
	ICMPEcho           uint8 = 8
	ICMPTimeExceeded   uint8 = 11
	ICMPCodeFragNeeded uint8 = 4 // with ICMPDestUnreach (RFC 1191)
	// ICMPParamProblem is an error that quotes the datagram too; Parse and
	// the translations leave it alone, the socket filter lets it through.
	ICMPParamProblem uint8 = 12
)

// icmpQuoteMin is how much of the original datagram's payload an ICMP error
// must quote: 64 bits (RFC 792), enough for the TCP/UDP ports.
const icmpQuoteMin = 8

// IsICMPError reports whether an ICMP type is one of the errors that quote
// the original datagram and that govs translates for masqueraded
// connections, as IPVS does (ip_vs_in_icmp/ip_vs_out_icmp): destination
// unreachable, source quench and time exceeded.
func IsICMPError(t uint8) bool {
	return t == ICMPDestUnreach || t == ICMPSourceQuench || t == ICMPTimeExceeded
}

// ICMPv4 is a view of an ICMP message. The caller checks that it holds at
// least ICMPHeaderLen bytes (Parse does).
type ICMPv4 []byte

// Type returns the ICMP type.
func (b ICMPv4) Type() uint8 { return b[icmpType] }

// Code returns the ICMP code.
func (b ICMPv4) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpCsum:]) }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[icmpCsum:], v) }

// Ident returns the echo identifier.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpID:]) }

// Seq returns the echo sequence number.
func (b ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(b[icmpSeq:]) }

// MTU returns the next-hop MTU of a fragmentation-needed message.
func (b ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(b[icmpMTU:]) }

// Payload returns the bytes after the 8-byte header: echo data, or the
// quoted datagram of an error.
func (b ICMPv4) Payload() []byte { return b[ICMPHeaderLen:] }
