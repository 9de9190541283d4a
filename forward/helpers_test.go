package forward

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Addresses from the project's ranges: clients 192.0.2.0/24, VIPs
// 198.51.100.0/24, realservers 203.0.113.0/24.
var (
	clientIP = [4]byte{192, 0, 2, 10}
	vipIP    = [4]byte{198, 51, 100, 1}
	ripIP    = [4]byte{203, 0, 113, 7}
	dipIP    = [4]byte{198, 51, 100, 254} // director's own address
	routerIP = [4]byte{192, 0, 2, 1}

	macClient = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	macLB     = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	macRS     = [6]byte{0x02, 0, 0, 0, 0, 0x03}
	macTap    = [6]byte{0x02, 0, 0, 0, 0, 0x04}
	macGW     = [6]byte{0x02, 0, 0, 0, 0, 0x05}
)

const (
	clientPort = 40000
	vipPort    = 80
	ripPort    = 8080
)

// refSum is the slow RFC 1071 sum, word by word, kept here as the oracle
// for every checksum the package writes.
func refSum(b []byte, initial uint32) uint16 {
	s := initial
	s = (s >> 16) + (s & 0xffff)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
		s = (s >> 16) + (s & 0xffff)
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = (s >> 16) + (s & 0xffff)
	}
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

func refPseudo(src, dst [4]byte, proto uint8, length int) uint32 {
	ph := make([]byte, 12)
	copy(ph[0:4], src[:])
	copy(ph[4:8], dst[:])
	ph[9] = proto
	binary.BigEndian.PutUint16(ph[10:], uint16(length))
	return uint32(refSum(ph, 0))
}

// spec describes a test frame; build turns it into bytes with gopacket.
type spec struct {
	vlan      bool
	ipOptions bool
	proto     uint8 // ProtoTCP, ProtoUDP, ProtoICMP
	src, dst  [4]byte
	sport     uint16
	dport     uint16
	tcpFlags  uint8
	seq       uint32
	tcpOpts   bool
	df        bool
	mf        bool
	fragOff   uint16 // in 8-byte units
	id        uint16
	ttl, tos  uint8
	payload   []byte
	icmpType  uint8
	icmpCode  uint8
	icmpRest  uint32  // the 4 type-specific bytes
	inner     *spec   // quoted datagram of an ICMP error
	quoteLen  int     // bytes of the inner IP payload to quote (default 8)
	padding   int     // Ethernet trailer bytes after the IP packet
	noUDPsum  bool    // UDP checksum zero (none)
	partialL4 bool    // TCP/UDP field = pseudo-header sum (CHECKSUM_PARTIAL)
	srcMAC    [6]byte // defaults to macClient
	dstMAC    [6]byte // defaults to macLB
	extra     []gopacket.SerializableLayer
}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatalf("SerializeLayers: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipLayers returns the IPv4 layer and its payload layers for s (no
// Ethernet).
func (s spec) ipLayers(tb testing.TB) []gopacket.SerializableLayer {
	tb.Helper()
	ttl := s.ttl
	if ttl == 0 {
		ttl = 64
	}
	ip := &layers.IPv4{
		Version: 4, TOS: s.tos, Id: s.id, TTL: ttl,
		Protocol: layers.IPProtocol(s.proto),
		SrcIP:    net.IP(s.src[:]), DstIP: net.IP(s.dst[:]),
		FragOffset: s.fragOff,
	}
	if s.df {
		ip.Flags |= layers.IPv4DontFragment
	}
	if s.mf {
		ip.Flags |= layers.IPv4MoreFragments
	}
	if s.ipOptions {
		// Record route with room for two addresses, then end of list.
		ip.Options = []layers.IPv4Option{
			{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}},
			{OptionType: 0, OptionLength: 1},
		}
	}
	out := []gopacket.SerializableLayer{ip}
	switch s.proto {
	case ProtoTCP:
		tcp := &layers.TCP{
			SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport),
			Seq: s.seq, Ack: 0x01020304, Window: 65535,
			FIN: s.tcpFlags&TCPFlagFIN != 0, SYN: s.tcpFlags&TCPFlagSYN != 0,
			RST: s.tcpFlags&TCPFlagRST != 0, PSH: s.tcpFlags&TCPFlagPSH != 0,
			ACK: s.tcpFlags&TCPFlagACK != 0, URG: s.tcpFlags&TCPFlagURG != 0,
			ECE: s.tcpFlags&TCPFlagECE != 0, CWR: s.tcpFlags&TCPFlagCWR != 0,
		}
		if s.tcpOpts {
			tcp.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2}},
			}
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			tb.Fatal(err)
		}
		out = append(out, tcp)
	case ProtoUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			tb.Fatal(err)
		}
		out = append(out, udp)
	case ProtoICMP:
		out = append(out, &layers.ICMPv4{
			TypeCode: layers.CreateICMPv4TypeCode(s.icmpType, s.icmpCode),
			Id:       uint16(s.icmpRest >> 16), Seq: uint16(s.icmpRest),
		})
	}
	payload := s.payload
	if s.inner != nil {
		in := s.inner.ipOnly(tb)
		hl := IPv4(in).HeaderLength()
		q := s.quoteLen
		if q == 0 {
			q = 8
		}
		payload = in[:min(len(in), hl+q)]
	}
	out = append(out, gopacket.Payload(payload))
	return append(out, s.extra...)
}

// ipOnly returns the IPv4 packet of s, without Ethernet.
func (s spec) ipOnly(tb testing.TB) []byte {
	tb.Helper()
	return serialize(tb, s.ipLayers(tb)...)
}

// build returns the Ethernet frame of s.
func (s spec) build(tb testing.TB) []byte {
	tb.Helper()
	src, dst := s.srcMAC, s.dstMAC
	if src == ([6]byte{}) {
		src = macClient
	}
	if dst == ([6]byte{}) {
		dst = macLB
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(src[:]), DstMAC: net.HardwareAddr(dst[:]), EthernetType: layers.EthernetTypeIPv4}
	ls := []gopacket.SerializableLayer{eth}
	if s.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 42, Priority: 3, Type: layers.EthernetTypeIPv4})
	}
	ip := s.ipOnly(tb)
	ls = append(ls, gopacket.Payload(ip))
	f := serialize(tb, ls...)
	l3 := ethHdrLen
	if s.vlan {
		l3 = vlanHdrLen
	}
	ipb := IPv4(f[l3:])
	l4 := f[l3+ipb.HeaderLength():]
	switch {
	case s.noUDPsum && s.proto == ProtoUDP:
		UDP(l4).SetChecksum(0)
	case s.partialL4 && (s.proto == ProtoTCP || s.proto == ProtoUDP):
		co := tcpCsum
		if s.proto == ProtoUDP {
			co = udpCsum
		}
		binary.BigEndian.PutUint16(l4[co:], refSum(nil, refPseudo(s.src, s.dst, s.proto, len(l4))))
	}
	for range s.padding {
		f = append(f, 0xee)
	}
	return f
}

// decode decodes a frame with gopacket and fails on any decoding error or
// any checksum gopacket finds wrong.
func decode(tb testing.TB, frame []byte) gopacket.Packet {
	tb.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		tb.Fatalf("gopacket: %v", el.Error())
	}
	// The pseudo-header comes from the innermost IPv4 header (IPIP).
	var nl gopacket.NetworkLayer
	for _, l := range pkt.Layers() {
		if ip, ok := l.(*layers.IPv4); ok {
			nl = ip
		}
	}
	if nl != nil {
		if tl, ok := pkt.TransportLayer().(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := tl.SetNetworkLayerForChecksum(nl); err != nil {
				tb.Fatal(err)
			}
		}
	}
	err, bad := pkt.VerifyChecksums()
	if err != nil {
		tb.Fatalf("gopacket VerifyChecksums: %v", err)
	}
	for _, m := range bad {
		tb.Errorf("gopacket: bad %v checksum: %#x, want %#x", m.Layer.LayerType(), m.Actual, m.Correct)
	}
	return pkt
}

// checkSums verifies with the oracle the IPv4 header checksum and the
// TCP/UDP/ICMP checksum of a (full-checksum) frame, re-parsing it.
func checkSums(tb testing.TB, frame []byte) Packet {
	tb.Helper()
	var p Packet
	if err := Parse(frame, &p); err != nil {
		tb.Fatalf("Parse(result): %v", err)
	}
	if s := refSum(frame[p.L3:p.L4], 0); s != 0xffff {
		tb.Errorf("IPv4 header checksum wrong: sum %#04x", s)
	}
	l4 := frame[p.L4:p.End]
	switch {
	case p.IsFragment():
	case p.Proto == ProtoTCP, p.Proto == ProtoUDP && UDP(l4).Checksum() != 0:
		if s := refSum(l4, refPseudo(p.Src, p.Dst, p.Proto, len(l4))); s != 0xffff {
			tb.Errorf("L4 checksum wrong: sum %#04x", s)
		}
	case p.Proto == ProtoICMP:
		if s := refSum(l4, 0); s != 0xffff {
			tb.Errorf("ICMP checksum wrong: sum %#04x", s)
		}
	}
	if p.HasInner {
		if s := refSum(frame[p.Inner.L3:p.Inner.L4], 0); s != 0xffff {
			tb.Errorf("quoted IPv4 header checksum wrong: sum %#04x", s)
		}
	}
	return p
}

func addr(a [4]byte) net.IP { return net.IP(a[:]) }
