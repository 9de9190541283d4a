package bench

import (
	"encoding/binary"
	"net/netip"

	"github.com/govs-lb/govs/internal/csum"
)

// Frame layout the generator builds (no VLAN tag, no IP options):
//
//	| Ethernet (14) | IPv4 (20) | UDP (8) or TCP (20) | payload (zeros) |
//
// A frame of Size bytes on the wire is Size-4 bytes here: the FCS is the
// NIC's business, so 64-byte frames are sent as 60 bytes.

// Addresses of the lab. The realservers' MACs belong to no interface: the
// director has them as permanent neighbour entries and the sink takes them
// as "other host" frames, which it counts and drops.
var (
	GenMAC    = [6]byte{0x02, 0, 0, 0, 0x01, 0x01}
	DirInMAC  = [6]byte{0x02, 0, 0, 0, 0x02, 0x01}
	DirOutMAC = [6]byte{0x02, 0, 0, 0, 0x02, 0x02}
	SinkMAC   = [6]byte{0x02, 0, 0, 0, 0x03, 0x01}
	RSMACs    = [][6]byte{{0x02, 0, 0, 0, 0x03, 0x0b}, {0x02, 0, 0, 0, 0x03, 0x0c}}

	GenAddr    = netip.MustParsePrefix("192.0.2.2/24")
	DirInAddr  = netip.MustParsePrefix("192.0.2.1/24")
	DirOutAddr = netip.MustParsePrefix("203.0.113.1/24")
	VIP        = netip.MustParseAddr("198.51.100.1")
	RSAddrs    = []netip.Addr{netip.MustParseAddr("203.0.113.11"), netip.MustParseAddr("203.0.113.12")}
)

// Ports of the service and, for masq, of the realservers.
const (
	VIPPort = 80
	RSPort  = 8080
)

// Flow tuples: source addresses 192.0.2.2 .. 192.0.2.254, source ports
// 1024 .. 65023 (64000 per address).
const (
	portsPerAddr = 64000
	firstPort    = 1024
	firstHost    = 2
	MaxFlows     = 253 * portsPerAddr
)

// FlowTuple returns the source address and port of flow i (0 ≤ i < MaxFlows).
func FlowTuple(i int) (src [4]byte, sport uint16) {
	i %= MaxFlows
	return [4]byte{192, 0, 2, byte(firstHost + i/portsPerAddr)}, uint16(firstPort + i%portsPerAddr)
}

// Kind of frame the generator builds.
type Kind uint8

// Frame kinds.
const (
	KindUDP    Kind = iota // UDP datagram
	KindTCPSYN             // TCP SYN (seq 1000)
	KindTCPACK             // TCP ACK|PSH with payload (seq 1001, ack 1)
)

const (
	ethLen  = 14
	ipLen   = 20
	udpLen  = 8
	tcpLen  = 20
	fcsLen  = 4
	minSize = 64
)

// FrameLen is the number of bytes sent for a frame of size bytes on the wire.
func FrameLen(size int) int { return max(size, minSize) - fcsLen }

// BuildFrame writes into buf (at least FrameLen(size) bytes) a frame of kind
// k from src:sport to VIP:VIPPort, from GenMAC to DirInMAC, with valid IPv4
// and L4 checksums, and returns it.
func BuildFrame(buf []byte, k Kind, src [4]byte, sport uint16, size int) []byte {
	n := FrameLen(size)
	f := buf[:n]
	clear(f)
	copy(f[0:6], DirInMAC[:])
	copy(f[6:12], GenMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[ethLen:]
	proto := uint8(17)
	if k != KindUDP {
		proto = 6
	}
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(n-ethLen))
	binary.BigEndian.PutUint16(ip[4:], uint16(sport)) // ID: anything stable
	binary.BigEndian.PutUint16(ip[6:], 0x4000)        // DF
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:16], src[:])
	dst := VIP.As4()
	copy(ip[16:20], dst[:])
	l4 := ip[ipLen:]
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], VIPPort)
	switch k {
	case KindUDP:
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	case KindTCPSYN:
		binary.BigEndian.PutUint32(l4[4:], 1000)
		l4[12] = 5 << 4
		l4[13] = 0x02 // SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)
	case KindTCPACK:
		binary.BigEndian.PutUint32(l4[4:], 1001)
		binary.BigEndian.PutUint32(l4[8:], 1)
		l4[12] = 5 << 4
		l4[13] = 0x18 // ACK|PSH
		binary.BigEndian.PutUint16(l4[14:], 502)
	}
	FixChecksums(f)
	return f
}

// FixChecksums recomputes the IPv4 header checksum and the TCP or UDP
// checksum of an untagged Ethernet/IPv4 frame without options.
func FixChecksums(f []byte) {
	ip := f[ethLen:]
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^csum.Checksum(ip[:ipLen], 0))
	total := int(binary.BigEndian.Uint16(ip[2:]))
	l4 := ip[ipLen:total]
	off := 6 // UDP
	if ip[9] == 6 {
		off = 16
	}
	l4[off], l4[off+1] = 0, 0
	ph := csum.IPv4PseudoHeader([4]byte(ip[12:16]), [4]byte(ip[16:20]), ip[9], uint16(len(l4)))
	c := ^csum.Checksum(l4, ph)
	if ip[9] == 17 && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}

// SetTuple rewrites the source address and port of a frame built by
// BuildFrame and fixes its checksums.
func SetTuple(f []byte, src [4]byte, sport uint16) {
	ip := f[ethLen:]
	copy(ip[12:16], src[:])
	binary.BigEndian.PutUint16(ip[4:], sport)
	binary.BigEndian.PutUint16(ip[ipLen:], sport)
	FixChecksums(f)
}

// FrameSet is a set of prebuilt frames in one backing array.
type FrameSet struct {
	Frames [][]byte
}

// NewFrameSet builds n frames of kind k, frame i for flow first+i.
func NewFrameSet(k Kind, first, n, size int) *FrameSet {
	l := FrameLen(size)
	backing := make([]byte, n*l)
	fs := &FrameSet{Frames: make([][]byte, n)}
	for i := range n {
		src, sport := FlowTuple(first + i)
		fs.Frames[i] = BuildFrame(backing[i*l:(i+1)*l:(i+1)*l], k, src, sport, size)
	}
	return fs
}
