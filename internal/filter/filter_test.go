package filter

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

var (
	macC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macLB  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	tapMAC = [6]byte{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}

	client = netip.MustParseAddr("192.0.2.10")
	vip1   = netip.MustParseAddr("198.51.100.1")
	vip2   = netip.MustParseAddr("198.51.100.2")
	vip3   = netip.MustParseAddr("198.51.100.3")
	other  = netip.MustParseAddr("198.51.100.99")
	rs1    = netip.MustParseAddr("203.0.113.5")
	rs2    = netip.MustParseAddr("203.0.113.6")
)

var testSpec = Spec{
	VIPs: []Service{
		{TCP, vip1, 80}, {TCP, vip1, 443}, {UDP, vip1, 53},
		{TCP, vip2, 0},
		{UDP, vip3, 5000},
	},
	Masq:    []Service{{TCP, rs1, 8080}, {UDP, rs2, 0}},
	ARP:     true,
	ICMP:    true,
	TapMACs: [][6]byte{tapMAC},
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(buf.Bytes())
}

func eth(dst net.HardwareAddr, et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macC, DstMAC: dst, EthernetType: et}
}

func ip4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func tcp(t testing.TB, src, dst netip.Addr, sport, dport uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolTCP)
	l4 := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1000}
	l4.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(macLB, layers.EthernetTypeIPv4), ip, l4, gopacket.Payload("hello"))
}

func udp(t testing.TB, src, dst netip.Addr, sport, dport uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolUDP)
	l4 := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	l4.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(macLB, layers.EthernetTypeIPv4), ip, l4, gopacket.Payload("hello"))
}

func icmp(t testing.TB, src, dst netip.Addr, typ uint8) []byte {
	return serialize(t, eth(macLB, layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0)}, gopacket.Payload("12345678"))
}

func arp(t testing.TB, op uint16, target netip.Addr) []byte {
	return serialize(t, eth(layers.EthernetBroadcast, layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: macC, SourceProtAddress: client.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice(),
	})
}

// fragment builds a UDP-carrying IPv4 fragment at byte offset off (multiple
// of 8) with the given payload (no L4 header when off > 0).
func fragment(t testing.TB, src, dst netip.Addr, off uint16, mf bool, payload []byte) []byte {
	ip := ip4(src, dst, layers.IPProtocolUDP)
	ip.FragOffset = off / 8
	if mf {
		ip.Flags = layers.IPv4MoreFragments
	}
	return serialize(t, eth(macLB, layers.EthernetTypeIPv4), ip, gopacket.Payload(payload))
}

// withOptions inserts 4 bytes of IPv4 options (NOP, NOP, EOL, 0x50) after the
// IPv4 header. A filter that ignored IHL would read 0x0050 (80) as the
// destination port.
func withOptions(f []byte) []byte {
	out := slices.Concat(f[:34], []byte{1, 1, 0, 0x50}, f[34:])
	out[14] = 0x46
	binary.BigEndian.PutUint16(out[16:], binary.BigEndian.Uint16(out[16:])+4)
	out[24], out[25] = 0, 0
	var sum uint32
	for i := 14; i < 38; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(out[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(out[24:], ^uint16(sum))
	return out
}

func vlanTagged(f []byte) []byte {
	return slices.Concat(f[:12], []byte{0x81, 0x00, 0x00, 0x0a}, f[12:])
}

func run(t *testing.T, spec Spec, frame []byte) bool {
	t.Helper()
	insts, err := Instructions(spec)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return n > 0
}

func TestRules(t *testing.T) {
	tcpToVIP80 := tcp(t, client, vip1, 40000, 80)
	tests := []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"tcp vip1:80", tcpToVIP80, true},
		{"tcp vip1:443", tcp(t, client, vip1, 40000, 443), true},
		{"tcp vip1:81 wrong port", tcp(t, client, vip1, 40000, 81), false},
		{"tcp vip1:53 port of the udp service", tcp(t, client, vip1, 40000, 53), false},
		{"udp vip1:53", udp(t, client, vip1, 40000, 53), true},
		{"udp vip1:80 port of the tcp service", udp(t, client, vip1, 40000, 80), false},
		{"tcp vip2 port-0 service, port 1", tcp(t, client, vip2, 40000, 1), true},
		{"tcp vip2 port-0 service, port 65535", tcp(t, client, vip2, 40000, 65535), true},
		{"udp vip2 (only tcp service)", udp(t, client, vip2, 40000, 1), false},
		{"udp vip3:5000", udp(t, client, vip3, 40000, 5000), true},
		{"udp vip3:5001", udp(t, client, vip3, 40000, 5001), false},
		{"tcp other:80", tcp(t, client, other, 40000, 80), false},
		{"tcp from vip1:80 (src port, not dst)", tcp(t, vip1, client, 80, 40000), false},
		{"ip options vip1:80", withOptions(tcpToVIP80), true},
		{"ip options vip1:81 (naive offset reads 80)", withOptions(tcp(t, client, vip1, 40000, 81)), false},
		{"ip options udp vip3:5000", withOptions(udp(t, client, vip3, 40000, 5000)), true},
		{"masq reply rs1:8080", tcp(t, rs1, client, 8080, 40000), true},
		{"masq reply rs1:8081 wrong port", tcp(t, rs1, client, 8081, 40000), false},
		{"masq udp rs1:8080 wrong proto", udp(t, rs1, client, 8080, 40000), false},
		{"masq reply rs2 any udp port", udp(t, rs2, client, 12345, 40000), true},
		{"masq tcp from rs2 (udp only)", tcp(t, rs2, client, 12345, 40000), false},
		{"to rs1:8080 (not a reply)", tcp(t, client, rs1, 40000, 8080), false},
		{"arp request for vip1", arp(t, layers.ARPRequest, vip1), true},
		{"arp request for vip3", arp(t, layers.ARPRequest, vip3), true},
		{"arp request for other", arp(t, layers.ARPRequest, other), false},
		{"arp request for rs1", arp(t, layers.ARPRequest, rs1), false},
		{"arp reply for vip1", arp(t, layers.ARPReply, vip1), false},
		{"icmp echo to vip1", icmp(t, client, vip1, layers.ICMPv4TypeEchoRequest), true},
		{"icmp echo reply to vip1", icmp(t, client, vip1, layers.ICMPv4TypeEchoReply), false},
		{"icmp unreachable to vip2", icmp(t, client, vip2, layers.ICMPv4TypeDestinationUnreachable), true},
		{"icmp time exceeded to vip3", icmp(t, client, vip3, layers.ICMPv4TypeTimeExceeded), true},
		{"icmp param problem to vip1", icmp(t, client, vip1, layers.ICMPv4TypeParameterProblem), true},
		{"icmp redirect to vip1", icmp(t, client, vip1, layers.ICMPv4TypeRedirect), false},
		{"icmp echo to other", icmp(t, client, other, layers.ICMPv4TypeEchoRequest), false},
		{"icmp unreachable from rs1", icmp(t, rs1, client, layers.ICMPv4TypeDestinationUnreachable), true},
		{"icmp echo from rs1", icmp(t, rs1, client, layers.ICMPv4TypeEchoRequest), false},
		{"icmp options echo to vip1", withOptions(icmp(t, client, vip1, layers.ICMPv4TypeEchoRequest)), true},
		{"fragment offset 1480 to vip1", fragment(t, client, vip1, 1480, false, make([]byte, 100)), true},
		{"fragment offset 8 to vip2", fragment(t, client, vip2, 8, true, make([]byte, 100)), true},
		{"fragment to other", fragment(t, client, other, 1480, false, make([]byte, 100)), false},
		{"fragment from rs2", fragment(t, rs2, client, 1480, false, make([]byte, 100)), true},
		{"first fragment vip1:53", fragment(t, client, vip1, 0, true, []byte{0x9c, 0x40, 0, 53, 0, 100, 0, 0, 1, 2}), true},
		{"first fragment vip1:54", fragment(t, client, vip1, 0, true, []byte{0x9c, 0x40, 0, 54, 0, 100, 0, 0, 1, 2}), false},
		{"truncated before ports", tcpToVIP80[:14+20+1], false},
		{"tcp other:80 to tap mac", func() []byte {
			f := tcp(t, client, other, 1, 80)
			copy(f, tapMAC[:])
			return f
		}(), true},
		{"ipv6 frame", serialize(t, eth(macLB, layers.EthernetTypeIPv6), &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolNoNextHeader, HopLimit: 1,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}), false},
		{"vlan tag in data", vlanTagged(tcpToVIP80), false},
		{"runt", []byte{1, 2, 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, testSpec, tt.frame); got != tt.want {
				t.Errorf("accepted = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOptionsOff(t *testing.T) {
	spec := testSpec
	spec.ARP, spec.ICMP, spec.TapMACs = false, false, nil
	for _, f := range [][]byte{
		arp(t, layers.ARPRequest, vip1),
		icmp(t, client, vip1, layers.ICMPv4TypeEchoRequest),
		icmp(t, rs1, client, layers.ICMPv4TypeDestinationUnreachable),
	} {
		if run(t, spec, f) {
			t.Errorf("frame %x accepted with ARP/ICMP off", f[:20])
		}
	}
	if !run(t, spec, tcp(t, client, vip1, 1, 80)) {
		t.Error("tcp vip1:80 rejected")
	}
}

func TestEmptySpec(t *testing.T) {
	for _, f := range [][]byte{
		tcp(t, client, vip1, 1, 80), arp(t, layers.ARPRequest, vip1), udp(t, client, other, 1, 1), {},
	} {
		if run(t, Spec{ARP: true, ICMP: true}, f) {
			t.Errorf("empty spec accepted %x", f)
		}
	}
	prog, err := Build(Spec{})
	if err != nil || len(prog) == 0 {
		t.Fatalf("Build(empty) = %v, %v", prog, err)
	}
	// Only tap MACs.
	f := tcp(t, client, other, 1, 80)
	copy(f, tapMAC[:])
	if !run(t, Spec{TapMACs: [][6]byte{tapMAC}}, f) {
		t.Error("tap MAC frame rejected with a tap-only spec")
	}
}

func TestValidate(t *testing.T) {
	for _, spec := range []Spec{
		{VIPs: []Service{{TCP, netip.MustParseAddr("2001:db8::1"), 80}}},
		{VIPs: []Service{{Proto: 47, Addr: vip1, Port: 80}}},
		{Masq: []Service{{TCP, netip.Addr{}, 80}}},
	} {
		if _, err := Build(spec); err == nil {
			t.Errorf("Build(%+v) succeeded", spec)
		}
	}
}

// TestLargeSpec has jumps longer than 255 instructions, which the assembler
// must turn into ja trampolines; an oracle checks every service.
func TestLargeSpec(t *testing.T) {
	var spec Spec
	for i := range 100 {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		spec.VIPs = append(spec.VIPs, Service{TCP, a, uint16(1000 + i)}, Service{UDP, a, 53})
		spec.Masq = append(spec.Masq, Service{TCP, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 80})
	}
	spec.ARP, spec.ICMP = true, true
	prog, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d services, %d realservers: %d instructions", len(spec.VIPs), len(spec.Masq), len(prog))
	insts, _ := Instructions(spec)
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	accept := func(f []byte) bool { n, _ := vm.Run(f); return n > 0 }
	for i, s := range spec.VIPs {
		if s.Proto != TCP || i%7 != 0 {
			continue
		}
		if !accept(tcp(t, client, s.Addr, 1, s.Port)) || accept(tcp(t, client, s.Addr, 1, s.Port+1)) ||
			!accept(udp(t, client, s.Addr, 1, 53)) || !accept(arp(t, layers.ARPRequest, s.Addr)) {
			t.Fatalf("service %v:%d misfiltered", s.Addr, s.Port)
		}
	}
	last := spec.Masq[len(spec.Masq)-1]
	if !accept(tcp(t, last.Addr, client, 80, 1)) || accept(tcp(t, last.Addr, client, 81, 1)) ||
		accept(tcp(t, client, netip.MustParseAddr("198.51.100.250"), 1, 1000)) {
		t.Fatal("masq/other misfiltered")
	}
	for i := range 600 {
		spec.VIPs = append(spec.VIPs, Service{UDP, netip.AddrFrom4([4]byte{198, 51, 101, byte(i)}), uint16(i + 1)})
	}
	if _, err := Build(spec); err == nil {
		t.Fatal("Build accepted a program over the kernel's limit")
	}
}

func BenchmarkVM(b *testing.B) {
	insts, _ := Instructions(testSpec)
	vm, _ := bpf.NewVM(insts)
	f := tcp(b, rs1, client, 8080, 40000)
	b.ReportAllocs()
	for b.Loop() {
		vm.Run(f)
	}
}
