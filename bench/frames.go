package bench

import (
	"net/netip"

	"github.com/govs-lb/govs/forward"
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
	ethLen  = forward.EthernetHeaderLen
	ipLen   = forward.IPv4MinHeaderLen
	udpLen  = forward.UDPHeaderLen
	tcpLen  = forward.TCPMinHeaderLen
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
	forward.SetMACs(f, DirInMAC, GenMAC)
	forward.Ethernet(f).SetType(forward.EtherTypeIPv4)
	proto := forward.ProtoUDP
	if k != KindUDP {
		proto = forward.ProtoTCP
	}
	ip := forward.IPv4(f[ethLen:])
	ip.Encode(&forward.IPv4Fields{
		TotalLength:  uint16(n - ethLen),
		ID:           sport, // anything stable
		DontFragment: true,
		TTL:          64,
		Protocol:     proto,
		Src:          netip.AddrFrom4(src),
		Dst:          VIP,
	})
	l4 := ip[ipLen:]
	switch k {
	case KindUDP:
		forward.UDP(l4).Encode(&forward.UDPFields{SrcPort: sport, DstPort: VIPPort, Length: uint16(len(l4))})
	case KindTCPSYN:
		forward.TCP(l4).Encode(&forward.TCPFields{SrcPort: sport, DstPort: VIPPort, Seq: 1000,
			DataOffset: tcpLen, Flags: forward.TCPFlagSYN, Window: 64240})
	case KindTCPACK:
		forward.TCP(l4).Encode(&forward.TCPFields{SrcPort: sport, DstPort: VIPPort, Seq: 1001, Ack: 1,
			DataOffset: tcpLen, Flags: forward.TCPFlagACK | forward.TCPFlagPSH, Window: 502})
	}
	FixChecksums(f)
	return f
}

// FixChecksums recomputes the IPv4 header checksum and the TCP or UDP
// checksum of an Ethernet/IPv4 frame (a TCP or UDP checksum that comes out
// as zero is written as 0xffff). A frame forward.Parse refuses is left as
// it is.
func FixChecksums(f []byte) {
	var p forward.Packet
	if forward.Parse(f, &p) == nil {
		fixChecksums(f, &p)
	}
}

func fixChecksums(f []byte, p *forward.Packet) {
	ip := forward.IPv4(f[p.L3:p.L4])
	ip.SetChecksum(ip.CalculateChecksum())
	forward.SetTransportChecksum(f, p)
}

// SetTuple rewrites the source address and port of a frame built by
// BuildFrame and fixes its checksums.
func SetTuple(f []byte, src [4]byte, sport uint16) {
	var p forward.Packet
	if forward.Parse(f, &p) != nil {
		return
	}
	ip := forward.IPv4(f[p.L3:p.L4])
	ip.SetSource(netip.AddrFrom4(src))
	ip.SetID(sport)
	if p.Proto == forward.ProtoTCP {
		forward.TCP(f[p.L4:p.End]).SetSourcePort(sport)
	} else {
		forward.UDP(f[p.L4:p.End]).SetSourcePort(sport)
	}
	p.Src = src
	fixChecksums(f, &p)
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
