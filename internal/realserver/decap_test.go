package realserver

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// golden: 203.0.113.1 -> 203.0.113.11 IPIP carrying
// 192.0.2.2:4000 -> 198.51.100.10:5000 UDP "hi".
const (
	goldenOuter = "4500003200000000400402bbcb007101cb00710b"
	goldenInner = "4500001e1234000040117c5bc0000202c633640a" + "0fa01388000a8808" + "6869"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecapTable(t *testing.T) {
	vips := vipSet("198.51.100.10", "198.51.100.11")
	golden := unhex(t, goldenOuter+goldenInner)
	withOpts := ipipUDP(t, "203.0.113.1", "203.0.113.11", "192.0.2.2", "198.51.100.11", 4000, 5000, "opts",
		layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 0})

	mod := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	tests := []struct {
		name      string
		pkt       []byte
		want      Verdict
		wantInner []byte
	}{
		{"golden", golden, Deliver, unhex(t, goldenInner)},
		{"outer options (IHL 6)", withOpts, Deliver, withOpts[24:]},
		{"trailing padding trimmed", append(append([]byte(nil), golden...), 0, 0, 0, 0), Deliver, unhex(t, goldenInner)},
		{"inner padding trimmed", mod(golden, func(b []byte) []byte {
			b = append(b, 0xee, 0xee)
			b[3] += 2 // outer total length covers the padding, inner's does not
			return b
		}), Deliver, unhex(t, goldenInner)},
		{"not a VIP", ipipUDP(t, "203.0.113.1", "203.0.113.11", "192.0.2.2", "198.51.100.99", 1, 2, "x"), DropNotVIP, nil},
		{"empty", nil, DropOuterMalformed, nil},
		{"19 bytes", golden[:19], DropOuterMalformed, nil},
		{"version 6", mod(golden, func(b []byte) []byte { b[0] = 0x65; return b }), DropOuterMalformed, nil},
		{"IHL 4", mod(golden, func(b []byte) []byte { b[0] = 0x44; return b }), DropOuterMalformed, nil},
		{"IHL beyond total", mod(golden, func(b []byte) []byte { b[0] = 0x4f; b[3] = 40; return b[:40] }), DropOuterMalformed, nil},
		{"total length > buffer", golden[:len(golden)-1], DropOuterMalformed, nil},
		{"proto UDP", mod(golden, func(b []byte) []byte { b[9] = 17; return b }), DropNotIPIP, nil},
		{"more fragments", mod(golden, func(b []byte) []byte { b[6] = 0x20; return b }), DropNotIPIP, nil},
		{"fragment offset", mod(golden, func(b []byte) []byte { b[7] = 1; return b }), DropNotIPIP, nil},
		{"DF is fine", mod(golden, func(b []byte) []byte { b[6] = 0x40; return b }), Deliver, unhex(t, goldenInner)},
		{"inner short", mod(golden[:20+19], func(b []byte) []byte { b[3] = 39; return b }), DropInnerMalformed, nil},
		{"inner version 6", mod(golden, func(b []byte) []byte { b[20] = 0x65; return b }), DropInnerMalformed, nil},
		{"inner IHL 4", mod(golden, func(b []byte) []byte { b[20] = 0x44; return b }), DropInnerMalformed, nil},
		{"inner total > outer", mod(golden, func(b []byte) []byte { b[23]++; return b }), DropInnerMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner, v := Decap(tt.pkt, vips)
			if v != tt.want {
				t.Fatalf("verdict %v, want %v", v, tt.want)
			}
			if !bytes.Equal(inner, tt.wantInner) {
				t.Errorf("inner\n got %x\nwant %x", inner, tt.wantInner)
			}
		})
	}
}

// TestDecapFields checks the inner packet field by field with gopacket.
func TestDecapFields(t *testing.T) {
	pkt := ipipUDP(t, "203.0.113.1", "203.0.113.12", "192.0.2.7", "198.51.100.10", 40000, 53, "query")
	inner, v := Decap(pkt, vipSet("198.51.100.10"))
	if v != Deliver {
		t.Fatalf("verdict %v", v)
	}
	p := gopacket.NewPacket(inner, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip == nil || udp == nil {
		t.Fatalf("inner does not decode as IPv4/UDP: %v", p)
	}
	if ip.SrcIP.String() != "192.0.2.7" || ip.DstIP.String() != "198.51.100.10" || ip.TTL != 64 {
		t.Errorf("inner IPv4 %v -> %v ttl %d", ip.SrcIP, ip.DstIP, ip.TTL)
	}
	if udp.SrcPort != 40000 || udp.DstPort != 53 || string(udp.Payload) != "query" {
		t.Errorf("inner UDP %d -> %d %q", udp.SrcPort, udp.DstPort, udp.Payload)
	}
	if &inner[0] != &pkt[20] {
		t.Error("inner is a copy, want a subslice of the packet")
	}
}

func TestVIPSet(t *testing.T) {
	s := vipSet("198.51.100.1", "198.51.100.1", "2001:db8::1", "198.51.100.2")
	if s.Len() != 2 {
		t.Errorf("Len %d, want 2 (duplicates and IPv6 ignored)", s.Len())
	}
	if !s.Contains([4]byte{198, 51, 100, 2}) || s.Contains([4]byte{198, 51, 100, 3}) {
		t.Error("Contains wrong")
	}
}

type sink struct {
	n   int
	err error
}

func (s *sink) Write(b []byte) (int, error) { s.n++; return len(b), s.err }

func TestDecapsulatorCounts(t *testing.T) {
	var st Stats
	out := &sink{}
	d := Decapsulator{VIPs: vipSet("198.51.100.10"), Stats: &st, Out: out}
	good := unhex(t, goldenOuter+goldenInner)
	d.Handle(good)
	d.Handle(good[:10])
	d.Handle(ipipUDP(t, "203.0.113.1", "203.0.113.11", "192.0.2.2", "198.51.100.99", 1, 2, "x"))
	out.err = errors.New("tun gone")
	d.Handle(good)
	want := map[Verdict]uint64{Deliver: 1, DropOuterMalformed: 1, DropNotVIP: 1, DropWriteError: 1}
	for v := Verdict(0); v < numVerdicts; v++ {
		if st.Count(v) != want[v] {
			t.Errorf("%v: %d, want %d", v, st.Count(v), want[v])
		}
	}
	if out.n != 2 {
		t.Errorf("%d writes, want 2", out.n)
	}
	if Verdict(200).String() != "verdict?" || st.Count(200) != 0 {
		t.Error("out-of-range verdict")
	}
	(&Decapsulator{VIPs: d.VIPs, Out: out}).Handle(good) // nil Stats is fine
}

func TestDecapAllocs(t *testing.T) {
	pkt := unhex(t, goldenOuter+goldenInner)
	vips := vipSet("198.51.100.1", "198.51.100.10")
	d := Decapsulator{VIPs: vips, Stats: new(Stats), Out: &sink{}}
	if n := testing.AllocsPerRun(1000, func() {
		if _, v := Decap(pkt, vips); v != Deliver {
			panic(v)
		}
		d.Handle(pkt)
	}); n != 0 {
		t.Errorf("%v allocations per packet, want 0", n)
	}
}

func BenchmarkDecapsulator(b *testing.B) {
	pkt := unhex(b, goldenOuter+goldenInner)
	d := Decapsulator{VIPs: vipSet("198.51.100.1", "198.51.100.10"), Stats: new(Stats), Out: &sink{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		d.Handle(pkt)
	}
}

func FuzzDecap(f *testing.F) {
	f.Add(unhex(f, goldenOuter+goldenInner))
	f.Add(ipipUDP(f, "203.0.113.1", "203.0.113.11", "192.0.2.2", "198.51.100.11", 4000, 5000, "o",
		layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 0}))
	f.Add([]byte{0x45})
	vips := vipSet("198.51.100.10", "198.51.100.11")
	f.Fuzz(func(t *testing.T, pkt []byte) {
		inner, v := Decap(pkt, vips)
		if v >= numVerdicts {
			t.Fatalf("verdict %d", v)
		}
		if v != Deliver {
			if inner != nil {
				t.Fatalf("verdict %v with inner %x", v, inner)
			}
			return
		}
		// Invariants of a delivered packet.
		ohl := int(pkt[0]&0xf) * 4
		if pkt[0]>>4 != 4 || pkt[9] != 4 || ohl < 20 || len(inner) < 20 {
			t.Fatalf("delivered a bad packet %x", pkt)
		}
		if &inner[0] != &pkt[ohl] {
			t.Fatal("inner does not start right after the outer header")
		}
		if inner[0]>>4 != 4 || int(inner[0]&0xf)*4 < 20 || int(inner[0]&0xf)*4 > len(inner) {
			t.Fatalf("inner header bad: %x", inner)
		}
		if tl := int(inner[2])<<8 | int(inner[3]); tl != len(inner) {
			t.Fatalf("inner length %d, total length field %d", len(inner), tl)
		}
		if otl := int(pkt[2])<<8 | int(pkt[3]); ohl+len(inner) > otl || otl > len(pkt) {
			t.Fatalf("inner beyond outer total length")
		}
		if !vips.Contains([4]byte(inner[16:20])) {
			t.Fatalf("delivered to non-VIP %v", inner[16:20])
		}
	})
}
