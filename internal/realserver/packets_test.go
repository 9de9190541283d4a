package realserver

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ipipUDP builds outer(IPv4, proto 4) + inner(IPv4/UDP) + payload with
// gopacket, lengths and checksums computed. outerOpts adds IPv4 options to
// the outer header.
func ipipUDP(t testing.TB, outerSrc, outerDst, innerSrc, innerDst string, sport, dport uint16, payload string, outerOpts ...layers.IPv4Option) []byte {
	t.Helper()
	outer := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolIPv4,
		SrcIP: net.ParseIP(outerSrc).To4(), DstIP: net.ParseIP(outerDst).To4(), Options: outerOpts}
	inner := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Id: 0x1234,
		SrcIP: net.ParseIP(innerSrc).To4(), DstIP: net.ParseIP(innerDst).To4()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(inner); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		outer, inner, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func vipSet(vips ...string) VIPSet {
	var a []netip.Addr
	for _, v := range vips {
		a = append(a, netip.MustParseAddr(v))
	}
	return NewVIPSet(a)
}
