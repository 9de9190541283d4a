package arp

import (
	"bytes"
	"encoding/hex"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macA  = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB  = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	vip   = [4]byte{198, 51, 100, 10}
	cliIP = [4]byte{192, 0, 2, 7}
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decode is the slow oracle: gopacket's own layers.
func decode(t *testing.T, frame []byte) (*layers.Ethernet, *layers.ARP) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || a == nil {
		t.Fatalf("gopacket did not decode Ethernet/ARP: %v", p)
	}
	return eth, a
}

func TestBuildGolden(t *testing.T) {
	pad := "000000000000000000000000000000000000" // 18 bytes to 60
	tests := []struct {
		name string
		got  []byte
		want string
	}{{
		name: "reply",
		got:  BuildReply(make([]byte, 100), macA, vip, macB, cliIP),
		want: "02000000000b" + "02000000000a" + "0806" + "0001" + "0800" + "06" + "04" + "0002" +
			"02000000000a" + "c633640a" + "02000000000b" + "c0000207" + pad,
	}, {
		name: "gratuitous",
		got:  BuildGratuitous(make([]byte, FrameLen), macA, vip),
		want: "ffffffffffff" + "02000000000a" + "0806" + "0001" + "0800" + "06" + "04" + "0001" +
			"02000000000a" + "c633640a" + "ffffffffffff" + "c633640a" + pad,
	}, {
		name: "request",
		got:  BuildRequest(make([]byte, FrameLen), macB, cliIP, vip),
		want: "ffffffffffff" + "02000000000b" + "0806" + "0001" + "0800" + "06" + "04" + "0001" +
			"02000000000b" + "c0000207" + "000000000000" + "c633640a" + pad,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if want := unhex(t, tt.want); !bytes.Equal(tt.got, want) {
				t.Fatalf("frame\n got %x\nwant %x", tt.got, want)
			}
		})
	}
}

func TestBuildDecodesWithGopacket(t *testing.T) {
	buf := make([]byte, FrameLen)
	// dirty buffer: padding must be cleared
	for i := range buf {
		buf[i] = 0xee
	}
	f := BuildReply(buf, macA, vip, macB, cliIP)
	eth, a := decode(t, f)
	if !bytes.Equal(eth.DstMAC, macB[:]) || !bytes.Equal(eth.SrcMAC, macA[:]) || eth.EthernetType != layers.EthernetTypeARP {
		t.Errorf("ethernet = %v", eth)
	}
	if a.Operation != layers.ARPReply || a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 ||
		!bytes.Equal(a.SourceHwAddress, macA[:]) || !net.IP(a.SourceProtAddress).Equal(net.IP(vip[:])) ||
		!bytes.Equal(a.DstHwAddress, macB[:]) || !net.IP(a.DstProtAddress).Equal(net.IP(cliIP[:])) {
		t.Errorf("arp = %+v", a)
	}
	if !bytes.Equal(f[42:], make([]byte, 18)) {
		t.Errorf("padding not zero: %x", f[42:])
	}

	g := BuildGratuitous(buf, macA, vip)
	eth, a = decode(t, g)
	if !bytes.Equal(eth.DstMAC, Broadcast[:]) || a.Operation != layers.ARPRequest ||
		!bytes.Equal(a.SourceProtAddress, vip[:]) || !bytes.Equal(a.DstProtAddress, vip[:]) ||
		!bytes.Equal(a.DstHwAddress, Broadcast[:]) || !bytes.Equal(a.SourceHwAddress, macA[:]) {
		t.Errorf("gratuitous: eth %v arp %+v", eth, a)
	}
}

func TestParseRequest(t *testing.T) {
	req := BuildRequest(make([]byte, FrameLen), macB, cliIP, vip)
	sha, spa, tpa, ok := ParseRequest(req)
	if !ok || sha != macB || spa != cliIP || tpa != vip {
		t.Fatalf("ParseRequest(request) = %x %v %v %v", sha, spa, tpa, ok)
	}
	if _, _, _, ok := ParseRequest(req[:42]); !ok {
		t.Error("unpadded 42-byte request rejected")
	}
	bad := []struct {
		name  string
		frame []byte
	}{
		{"nil", nil},
		{"short", req[:41]},
		{"reply", BuildReply(make([]byte, FrameLen), macA, vip, macB, cliIP)},
		{"ipv4 ethertype", mutate(req, 12, 0x08, 0x00)},
		{"vlan tagged", mutate(req, 12, 0x81, 0x00)},
		{"hw type", mutate(req, 14, 0x00, 0x06)},
		{"proto ipv6", mutate(req, 16, 0x86, 0xdd)},
		{"hlen", mutate(req, 18, 8)},
		{"plen", mutate(req, 19, 16)},
		{"op 3 (rarp)", mutate(req, 20, 0, 3)},
	}
	for _, tt := range bad {
		if _, _, _, ok := ParseRequest(tt.frame); ok {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func mutate(b []byte, off int, v ...byte) []byte {
	c := bytes.Clone(b)
	copy(c[off:], v)
	return c
}

func TestZeroAllocs(t *testing.T) {
	buf := make([]byte, FrameLen)
	req := BuildRequest(make([]byte, FrameLen), macB, cliIP, vip)
	n := testing.AllocsPerRun(1000, func() {
		sha, spa, tpa, ok := ParseRequest(req)
		if ok {
			BuildReply(buf, macA, tpa, sha, spa)
		}
		BuildGratuitous(buf, macA, vip)
	})
	if n != 0 {
		t.Fatalf("allocs per run = %v, want 0", n)
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(BuildRequest(make([]byte, FrameLen), macB, cliIP, vip))
	f.Add(BuildGratuitous(make([]byte, FrameLen), macA, vip))
	f.Add(BuildReply(make([]byte, FrameLen), macA, vip, macB, cliIP))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		sha, spa, tpa, ok := ParseRequest(frame)
		if !ok {
			return
		}
		// Whatever parses is a request that gopacket agrees with, and that
		// rebuilds (less THA, Ethernet destination and padding) to the input.
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
		a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		if a == nil || a.Operation != layers.ARPRequest || !bytes.Equal(a.SourceHwAddress, sha[:]) ||
			!bytes.Equal(a.SourceProtAddress, spa[:]) || !bytes.Equal(a.DstProtAddress, tpa[:]) {
			t.Fatalf("gopacket disagrees: %+v vs %x %v %v", a, sha, spa, tpa)
		}
		re := BuildRequest(make([]byte, FrameLen), sha, spa, tpa)
		if !bytes.Equal(re[12:22], frame[12:22]) || !bytes.Equal(re[22:32], frame[22:32]) || !bytes.Equal(re[38:42], frame[38:42]) {
			t.Fatalf("rebuild differs:\n%x\n%x", re[:42], frame[:42])
		}
	})
}

func BenchmarkParseAndReply(b *testing.B) {
	buf := make([]byte, FrameLen)
	req := BuildRequest(make([]byte, FrameLen), macB, cliIP, vip)
	b.ReportAllocs()
	for b.Loop() {
		sha, spa, tpa, _ := ParseRequest(req)
		BuildReply(buf, macA, tpa, sha, spa)
	}
}
