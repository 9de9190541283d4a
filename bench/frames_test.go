package bench

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func decode(t *testing.T, f []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	return p
}

// verifyChecksums re-serializes with gopacket's checksum computation and
// compares the checksum fields.
func verifyChecksums(t *testing.T, p gopacket.Packet) {
	t.Helper()
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	want := *ip
	buf := gopacket.NewSerializeBuffer()
	if err := want.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
		t.Fatal(err)
	}
	if got, exp := ip.Checksum, (&layers.IPv4{}); got == 0 || exp == nil {
		t.Fatalf("IPv4 checksum is zero")
	}
	if ip2 := gopacket.NewPacket(buf.Bytes(), layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip2.Checksum != ip.Checksum {
		t.Fatalf("IPv4 checksum %#04x, gopacket computes %#04x", ip.Checksum, ip2.Checksum)
	}
	switch l4 := p.TransportLayer().(type) {
	case *layers.UDP:
		c := *l4
		c.SetNetworkLayerForChecksum(ip)
		b := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{ComputeChecksums: true}, &c, gopacket.Payload(l4.Payload)); err != nil {
			t.Fatal(err)
		}
		if got := gopacket.NewPacket(b.Bytes(), layers.LayerTypeUDP, gopacket.Default).Layer(layers.LayerTypeUDP).(*layers.UDP).Checksum; got != l4.Checksum {
			t.Fatalf("UDP checksum %#04x, gopacket computes %#04x", l4.Checksum, got)
		}
	case *layers.TCP:
		c := *l4
		c.SetNetworkLayerForChecksum(ip)
		b := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{ComputeChecksums: true}, &c, gopacket.Payload(l4.Payload)); err != nil {
			t.Fatal(err)
		}
		if got := gopacket.NewPacket(b.Bytes(), layers.LayerTypeTCP, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP).Checksum; got != l4.Checksum {
			t.Fatalf("TCP checksum %#04x, gopacket computes %#04x", l4.Checksum, got)
		}
	default:
		t.Fatalf("no TCP/UDP layer")
	}
}

func TestBuildFrame(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		size int
	}{{KindUDP, 64}, {KindUDP, 1518}, {KindTCPSYN, 64}, {KindTCPACK, 64}, {KindTCPACK, 200}} {
		buf := make([]byte, 2048)
		src, sport := FlowTuple(70000)
		f := BuildFrame(buf, tc.kind, src, sport, tc.size)
		if len(f) != tc.size-4 {
			t.Fatalf("len %d, want %d", len(f), tc.size-4)
		}
		p := decode(t, f)
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if [6]byte(eth.DstMAC) != DirInMAC || [6]byte(eth.SrcMAC) != GenMAC {
			t.Fatalf("MACs %v → %v", eth.SrcMAC, eth.DstMAC)
		}
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip.SrcIP.String() != "192.0.2.3" || ip.DstIP.String() != VIP.String() || int(ip.Length) != len(f)-14 {
			t.Fatalf("IPv4 %v → %v len %d", ip.SrcIP, ip.DstIP, ip.Length)
		}
		verifyChecksums(t, p)
		switch tc.kind {
		case KindUDP:
			u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if u.SrcPort != layers.UDPPort(sport) || u.DstPort != VIPPort {
				t.Fatalf("UDP ports %d → %d", u.SrcPort, u.DstPort)
			}
		case KindTCPSYN:
			tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if !tcp.SYN || tcp.ACK || tcp.DstPort != VIPPort {
				t.Fatalf("SYN flags wrong: %+v", tcp)
			}
		case KindTCPACK:
			tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tcp.SYN || !tcp.ACK || tcp.Seq != 1001 {
				t.Fatalf("ACK flags wrong: %+v", tcp)
			}
		}
		if _, err := Validate(asForwarded(f, RSMACs[1]), Expect{}); err != nil {
			t.Fatalf("a DR rewrite of the frame does not validate: %v", err)
		}
	}
}

func TestSetTupleAndFrameSet(t *testing.T) {
	fs := NewFrameSet(KindTCPSYN, 0, 3, 64)
	seen := map[string]bool{}
	for _, f := range fs.Frames {
		tcp := decode(t, f).Layer(layers.LayerTypeTCP).(*layers.TCP)
		seen[tcp.SrcPort.String()] = true
	}
	if len(seen) != 3 {
		t.Fatalf("3 flows, %d distinct source ports", len(seen))
	}
	src, sport := FlowTuple(MaxFlows - 1)
	SetTuple(fs.Frames[0], src, sport)
	p := decode(t, fs.Frames[0])
	verifyChecksums(t, p)
	if ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip.SrcIP.String() != "192.0.2.254" {
		t.Fatalf("last flow's source %v", ip.SrcIP)
	}
	if s2, p2 := FlowTuple(MaxFlows); s2 != [4]byte{192, 0, 2, 2} || p2 != firstPort {
		t.Fatalf("FlowTuple wraps to %v:%d", s2, p2)
	}
}

func TestBuildFrameAllocs(t *testing.T) {
	buf := make([]byte, 2048)
	src, sport := FlowTuple(1)
	f := BuildFrame(buf, KindUDP, src, sport, 64)
	if n := testing.AllocsPerRun(100, func() { SetTuple(f, src, sport) }); n != 0 {
		t.Fatalf("SetTuple allocates %v times", n)
	}
}
