package forward

import (
	"bytes"
	"testing"
)

// allocCase is one rewriter run on a fresh copy of a frame.
type allocCase struct {
	name string
	s    spec
	run  func(frame []byte, p *Packet)
}

var scratchBuf = make([]byte, 4096)

func allocCases() []allocCase {
	tcp := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: clientPort, dport: vipPort, tcpFlags: TCPFlagACK, payload: bytes.Repeat([]byte{1}, 64)}
	big := tcp
	big.payload = bytes.Repeat([]byte{2}, 8000)
	echo := spec{proto: ProtoICMP, src: clientIP, dst: vipIP, icmpType: ICMPEcho, payload: []byte("ping")}
	icmpErr := icmpErrCases()[0].s
	fragBuf := make([]byte, 256)
	return []allocCase{
		{"DR", tcp, func(f []byte, p *Packet) { RewriteDR(f, p, macRS, macLB) }},
		{"Local", tcp, func(f []byte, p *Packet) { RewriteLocal(f, p, macTap) }},
		{"MasqIn", tcp, func(f []byte, p *Packet) { MasqIn(f, p, ripIP, ripPort) }},
		{"MasqOut", tcp, func(f []byte, p *Packet) { MasqOut(f, p, vipIP, vipPort) }},
		{"MasqICMPIn", icmpErr, func(f []byte, p *Packet) { MasqICMPIn(f, p, ripIP, ripPort) }},
		{"MasqICMPOut", icmpErr, func(f []byte, p *Packet) { MasqICMPOut(f, p, vipIP, vipPort) }},
		{"EchoReply", echo, func(f []byte, p *Packet) { BuildEchoReply(f, p) }},
		{"CompleteChecksum", tcp, func(f []byte, p *Packet) { CompleteChecksum(f, p, p.L4, 16) }},
		{"FragNeeded", tcp, func(f []byte, p *Packet) { BuildFragNeeded(fragBuf, p, f, 1400, dipIP, macLB, macGW) }},
		{"SegmentTCP8000", big, func(f []byte, p *Packet) {
			SegmentTCP(f, p, 1448, scratchBuf, func(seg []byte) {})
		}},
	}
}

func TestRewritersZeroAllocs(t *testing.T) {
	for _, c := range allocCases() {
		f := c.s.build(t)
		var p Packet
		if n := testing.AllocsPerRun(100, func() {
			_ = Parse(f, &p)
			c.run(f, &p)
		}); n != 0 {
			t.Errorf("%s: allocs = %v, want 0", c.name, n)
		}
	}
	f := spec{proto: ProtoTCP, src: clientIP, dst: vipIP}.build(t)
	buf := make([]byte, Headroom+len(f))
	var p Packet
	if n := testing.AllocsPerRun(100, func() {
		copy(buf[Headroom:], f)
		_ = Parse(buf[Headroom:], &p)
		_ = EncapIPIP(buf, Headroom, &p, dipIP, ripIP, 1, macLB, macRS)
	}); n != 0 {
		t.Errorf("EncapIPIP: allocs = %v, want 0", n)
	}
}

func BenchmarkParse(b *testing.B) {
	f := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: 1, dport: 2, payload: make([]byte, 1400)}.build(b)
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if Parse(f, &p) != nil {
			b.Fatal("parse")
		}
	}
}

func BenchmarkParseIPv4(b *testing.B) {
	f := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: 1, dport: 2, payload: make([]byte, 1400)}.build(b)
	pkt := f[EthernetHeaderLen:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIPv4(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRewrite measures Parse plus one rewrite of the same frame
// (rewriting it again each iteration is fine: the cost does not depend on
// the values).
func BenchmarkParseRewrite(b *testing.B) {
	for _, c := range allocCases() {
		b.Run(c.name, func(b *testing.B) {
			f := c.s.build(b)
			var p Packet
			b.ReportAllocs()
			for b.Loop() {
				_ = Parse(f, &p)
				c.run(f, &p)
			}
		})
	}
	b.Run("EncapIPIP", func(b *testing.B) {
		f := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, payload: make([]byte, 1400)}.build(b)
		buf := make([]byte, Headroom+len(f))
		copy(buf[Headroom:], f)
		var p Packet
		b.ReportAllocs()
		for b.Loop() {
			_ = Parse(buf[Headroom:], &p)
			_ = EncapIPIP(buf, Headroom, &p, dipIP, ripIP, 1, macLB, macRS)
			// The frame's Ethernet header is now the outer IPv4
			// header's tail; restore it for the next round.
			copy(buf[Headroom:Headroom+14], f[:14])
		}
	})
}

func BenchmarkSegmentTCP60K(b *testing.B) {
	f := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, payload: make([]byte, 60000)}.build(b)
	var p Packet
	_ = Parse(f, &p)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		SegmentTCP(f, &p, 1448, scratchBuf, func([]byte) {})
	}
}
