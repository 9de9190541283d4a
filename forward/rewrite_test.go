package forward

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func parseOK(tb testing.TB, f []byte) *Packet {
	tb.Helper()
	p := new(Packet)
	if err := Parse(f, p); err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return p
}

// sameFrame fails unless got and want are byte for byte equal, showing
// both in hex.
func sameFrame(tb testing.TB, got, want []byte) {
	tb.Helper()
	if !bytes.Equal(got, want) {
		tb.Fatalf("frame differs:\n got %s\nwant %s", hex.EncodeToString(got), hex.EncodeToString(want))
	}
}

// masqCases are client->VIP packets of every shape the NAT path meets.
func masqCases() []struct {
	name string
	s    spec
} {
	tcp := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: clientPort, dport: vipPort,
		tcpFlags: TCPFlagACK | TCPFlagPSH, seq: 1000, id: 77, ttl: 57, df: true, payload: []byte("GET / HTTP/1.0\r\n\r\n")}
	tagged := tcp
	tagged.vlan, tagged.ipOptions, tagged.tcpOpts = true, true, true
	udp := spec{proto: ProtoUDP, src: clientIP, dst: vipIP, sport: 5353, dport: vipPort, payload: []byte("odd")}
	udp0 := udp
	udp0.noUDPsum = true
	padded := udp
	padded.padding = 17
	partialTCP := tcp
	partialTCP.partialL4 = true
	partialUDP := udp
	partialUDP.partialL4, partialUDP.vlan = true, true
	frag := udp
	frag.mf, frag.payload = true, bytes.Repeat([]byte{0xa5}, 64)
	later := udp
	later.fragOff = 10
	echo := spec{proto: ProtoICMP, src: clientIP, dst: vipIP, icmpType: ICMPEcho, icmpRest: 0x00010002, payload: []byte("ping")}
	return []struct {
		name string
		s    spec
	}{
		{"tcp", tcp}, {"tcp vlan ip-options tcp-options", tagged}, {"udp", udp},
		{"udp zero checksum", udp0}, {"udp ethernet padding", padded},
		{"tcp partial checksum", partialTCP}, {"udp partial checksum vlan", partialUDP},
		{"udp first fragment", frag}, {"udp later fragment", later}, {"icmp echo", echo},
	}
}

func TestMasq(t *testing.T) {
	for _, tc := range masqCases() {
		t.Run(tc.name, func(t *testing.T) {
			// In: client -> VIP:vport becomes client -> RIP:rport.
			f := tc.s.build(t)
			p := parseOK(t, f)
			p.Partial = tc.s.partialL4
			orig := append([]byte(nil), f...)
			MasqIn(f, p, ripIP, ripPort)
			want := tc.s
			want.dst = ripIP
			if p.hasPorts() {
				want.dport = ripPort
			}
			sameFrame(t, f, laterFrag(want.build(t), orig, p))
			if p.Dst != ripIP || (p.hasPorts() && p.DstPort != ripPort) {
				t.Errorf("Packet not kept in step: %+v", p)
			}
			if q := parseOK(t, f); *q != *p && !tc.s.partialL4 {
				t.Errorf("Packet after MasqIn %+v, reparsed %+v", p, q)
			}
			if !tc.s.partialL4 && !p.IsFragment() {
				decode(t, f)
				checkSums(t, f)
			}

			// Out: RIP:rport -> client becomes VIP:vport -> client.
			out := tc.s
			out.src, out.dst, out.sport, out.dport = ripIP, clientIP, ripPort, clientPort
			f = out.build(t)
			p = parseOK(t, f)
			p.Partial = tc.s.partialL4
			orig = append([]byte(nil), f...)
			MasqOut(f, p, vipIP, vipPort)
			want = out
			want.src = vipIP
			if p.hasPorts() {
				want.sport = vipPort
			}
			sameFrame(t, f, laterFrag(want.build(t), orig, p))
			if !tc.s.partialL4 && !p.IsFragment() {
				decode(t, f)
				checkSums(t, f)
			}
			if tc.s.partialL4 {
				// Completing the partial checksum now gives the same
				// frame as a full checksum computed from scratch.
				if !CompleteChecksum(f, p, p.L4, map[uint8]int{ProtoTCP: 16, ProtoUDP: 6}[p.Proto]) {
					t.Fatal("CompleteChecksum refused")
				}
				want.partialL4 = false
				sameFrame(t, f, want.build(t))
			}
		})
	}
}

// laterFrag: gopacket does not know that a later fragment has no UDP
// header, so the expected frame keeps the original bytes after the IP
// header.
func laterFrag(want, orig []byte, p *Packet) []byte {
	if p.FragOff != 0 {
		copy(want[p.L4:], orig[p.L4:])
	}
	return want
}

// TestMasqUDPChecksumBecomesZero finds a UDP datagram whose translated
// checksum computes to zero and checks that it is sent as 0xffff.
func TestMasqUDPChecksumBecomesZero(t *testing.T) {
	s := spec{proto: ProtoUDP, src: clientIP, dst: vipIP, sport: 1, dport: vipPort, payload: []byte{0, 0}}
	found := false
	for v := 0; v < 0x10000 && !found; v++ {
		s.payload[0], s.payload[1] = byte(v>>8), byte(v)
		f := s.build(t)
		p := parseOK(t, f)
		MasqIn(f, p, ripIP, ripPort)
		if UDP(f[p.L4:]).Checksum() == 0xffff {
			found = true
			checkSums(t, f)
			decode(t, f)
		}
		if UDP(f[p.L4:]).Checksum() == 0 {
			t.Fatalf("payload %#04x: translated checksum written as 0", v)
		}
	}
	if !found {
		t.Fatal("no payload made the checksum 0xffff")
	}
}

func TestDRAndLocal(t *testing.T) {
	s := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: clientPort, dport: vipPort, vlan: true, payload: []byte("x")}
	f := s.build(t)
	RewriteDR(f, parseOK(t, f), macRS, macLB)
	want := s
	want.dstMAC, want.srcMAC = macRS, macLB
	sameFrame(t, f, want.build(t))

	f = s.build(t)
	RewriteLocal(f, parseOK(t, f), macTap)
	want = s
	want.dstMAC = macTap
	sameFrame(t, f, want.build(t))

	f = s.build(t)
	SetMACs(f, macGW, macLB)
	want.dstMAC, want.srcMAC = macGW, macLB
	sameFrame(t, f, want.build(t))
}

func TestEchoReply(t *testing.T) {
	for _, vlan := range []bool{false, true} {
		s := spec{proto: ProtoICMP, src: clientIP, dst: vipIP, icmpType: ICMPEcho, icmpRest: 0x12345678,
			ttl: 50, id: 9, vlan: vlan, ipOptions: vlan, payload: []byte("abcdefghijklmnopq")}
		f := s.build(t)
		p := parseOK(t, f)
		if !BuildEchoReply(f, p) {
			t.Fatal("BuildEchoReply refused an echo request")
		}
		want := s
		want.src, want.dst, want.srcMAC, want.dstMAC = vipIP, clientIP, macLB, macClient
		want.icmpType, want.ttl = ICMPEchoReply, 64
		sameFrame(t, f, want.build(t))
		decode(t, f)
		checkSums(t, f)
		if BuildEchoReply(f, p) {
			t.Fatal("BuildEchoReply accepted a reply")
		}
	}
}

// icmpErrCases: ICMP errors as they arrive from the client side (quoting
// VIP:vport -> client) for MasqICMPIn.
func icmpErrCases() []struct {
	name string
	s    spec
} {
	inTCP := &spec{proto: ProtoTCP, src: vipIP, dst: clientIP, sport: vipPort, dport: clientPort, seq: 5, tcpFlags: TCPFlagACK, payload: []byte("0123456789")}
	inUDP := &spec{proto: ProtoUDP, src: vipIP, dst: clientIP, sport: vipPort, dport: clientPort, payload: []byte("0123456789")}
	inOpts := *inTCP
	inOpts.ipOptions = true
	return []struct {
		name string
		s    spec
	}{
		{"port unreachable udp", spec{proto: ProtoICMP, src: clientIP, dst: vipIP, icmpType: ICMPDestUnreach, icmpCode: 3, inner: inUDP}},
		{"frag needed tcp", spec{proto: ProtoICMP, src: routerIP, dst: vipIP, icmpType: ICMPDestUnreach, icmpCode: 4, icmpRest: 1400, inner: inTCP}},
		{"time exceeded tcp long quote vlan", spec{proto: ProtoICMP, src: routerIP, dst: vipIP, icmpType: ICMPTimeExceeded, inner: inTCP, quoteLen: 30, vlan: true}},
		{"source quench options", spec{proto: ProtoICMP, src: routerIP, dst: vipIP, icmpType: ICMPSourceQuench, inner: &inOpts, ipOptions: true}},
	}
}

// quotedL4Csum returns the bytes of the quoted TCP/UDP checksum field that
// are inside the quote (IPVS leaves them as they were).
func quotedL4Csum(f []byte, p *Packet) (lo, hi int) {
	off := tcpCsum
	if p.Inner.Proto == ProtoUDP {
		off = udpCsum
	}
	lo, hi = min(p.Inner.L4+off, p.End), min(p.Inner.L4+off+2, p.End)
	return lo, hi
}

func TestMasqICMP(t *testing.T) {
	for _, tc := range icmpErrCases() {
		t.Run(tc.name, func(t *testing.T) {
			// In: toward the realserver.
			orig := tc.s.build(t)
			f := append([]byte(nil), orig...)
			p := parseOK(t, f)
			if !MasqICMPIn(f, p, ripIP, ripPort) {
				t.Fatal("MasqICMPIn refused")
			}
			want := tc.s
			in := *tc.s.inner
			want.dst, in.src, in.sport = ripIP, ripIP, ripPort
			want.inner = &in
			checkICMPResult(t, f, orig, want.build(t), p)
			if p.Dst != ripIP || p.Inner.Src != ripIP || p.Inner.SrcPort != ripPort {
				t.Errorf("Packet not kept in step: %+v", p)
			}

			// Out: the same error generated on the realserver's side,
			// about client -> RIP:rport, going back to the client.
			out := tc.s
			oin := *tc.s.inner
			out.src, out.dst = ripIP, clientIP
			oin.src, oin.dst, oin.sport, oin.dport = clientIP, ripIP, clientPort, ripPort
			out.inner = &oin
			orig = out.build(t)
			f = append([]byte(nil), orig...)
			p = parseOK(t, f)
			if !MasqICMPOut(f, p, vipIP, vipPort) {
				t.Fatal("MasqICMPOut refused")
			}
			want = out
			win := oin
			want.src, win.dst, win.dport = vipIP, vipIP, vipPort
			want.inner = &win
			checkICMPResult(t, f, orig, want.build(t), p)
		})
	}
}

// checkICMPResult compares a translated ICMP error with the frame gopacket
// builds for the translated spec, except for the quoted L4 checksum (kept,
// as IPVS does) and hence the ICMP checksum, which the oracle checks.
func checkICMPResult(t *testing.T, got, orig, want []byte, p *Packet) {
	t.Helper()
	lo, hi := quotedL4Csum(got, p)
	if !bytes.Equal(got[lo:hi], orig[lo:hi]) {
		t.Errorf("quoted L4 checksum changed: %x -> %x", orig[lo:hi], got[lo:hi])
	}
	w := append([]byte(nil), want...)
	copy(w[lo:hi], got[lo:hi])
	copy(w[p.L4+icmpCsum:p.L4+icmpCsum+2], got[p.L4+icmpCsum:p.L4+icmpCsum+2])
	sameFrame(t, got, w)
	checkSums(t, got)
	decode(t, got)
}

func TestMasqICMPRefuses(t *testing.T) {
	f := spec{proto: ProtoICMP, src: clientIP, dst: vipIP, icmpType: ICMPEcho}.build(t)
	orig := append([]byte(nil), f...)
	p := parseOK(t, f)
	if MasqICMPIn(f, p, ripIP, 1) || MasqICMPOut(f, p, ripIP, 1) {
		t.Fatal("translated an echo request as an ICMP error")
	}
	sameFrame(t, f, orig)
}

func TestCompleteChecksum(t *testing.T) {
	for _, s := range []spec{
		{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: 1, dport: 2, payload: bytes.Repeat([]byte("z"), 1001), partialL4: true, vlan: true},
		{proto: ProtoUDP, src: clientIP, dst: vipIP, sport: 1, dport: 2, payload: []byte("abc"), partialL4: true, padding: 9},
	} {
		f := s.build(t)
		p := parseOK(t, f)
		p.Partial = true
		off := 16
		if s.proto == ProtoUDP {
			off = 6
		}
		if !CompleteChecksum(f, p, p.L4, off) || p.Partial {
			t.Fatal("CompleteChecksum refused")
		}
		s.partialL4 = false
		sameFrame(t, f, s.build(t))
		decode(t, f)
	}
	// The generic path (Linux's skb_checksum_help): an ICMP echo whose
	// checksum field is zero, the sum starting at the ICMP header.
	s := spec{proto: ProtoICMP, src: clientIP, dst: vipIP, icmpType: ICMPEcho, payload: []byte("12345")}
	want := s.build(t)
	f := append([]byte(nil), want...)
	p := parseOK(t, f)
	f[p.L4+2], f[p.L4+3] = 0, 0
	if !CompleteChecksum(f, p, p.L4, 2) {
		t.Fatal("CompleteChecksum refused")
	}
	sameFrame(t, f, want)
	for _, bad := range [][2]int{{0, 16}, {p.L4, -1}, {p.L4, p.End - p.L4 - 1}, {p.End + 1, 0}} {
		if CompleteChecksum(f, p, bad[0], bad[1]) {
			t.Errorf("CompleteChecksum(%d, %d) accepted", bad[0], bad[1])
		}
	}
	sameFrame(t, f, want)
}

// ipipWant builds with gopacket the frame EncapIPIP should produce.
func ipipWant(t *testing.T, s spec, id uint16) []byte {
	inner := s.ipOnly(t)
	outer := &layers.IPv4{Version: 4, TOS: s.tos, Id: id, Flags: layers.IPv4DontFragment, TTL: s.ttl,
		Protocol: layers.IPProtocolIPv4, SrcIP: addr(dipIP), DstIP: addr(ripIP)}
	return serialize(t,
		&layers.Ethernet{SrcMAC: macLB[:], DstMAC: macRS[:], EthernetType: layers.EthernetTypeIPv4},
		outer, gopacket.Payload(inner))
}

func TestEncapIPIP(t *testing.T) {
	for _, s := range []spec{
		{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: 1, dport: 80, tos: 0xb8, ttl: 33, df: true, payload: []byte("payload")},
		{proto: ProtoUDP, src: clientIP, dst: vipIP, sport: 1, dport: 80, ttl: 9, vlan: true, ipOptions: true, padding: 11, payload: []byte("p")},
	} {
		f := s.build(t)
		buf := make([]byte, Headroom+len(f))
		copy(buf[Headroom:], f)
		p := parseOK(t, buf[Headroom:])
		innerAt := &buf[Headroom+p.L3]
		out := EncapIPIP(buf, Headroom, p, dipIP, ripIP, 0x4242, macLB, macRS)
		if out == nil {
			t.Fatal("EncapIPIP refused")
		}
		if &out[ethHdrLen+IPv4MinHeaderLen] != innerAt {
			t.Fatal("inner packet was moved or copied")
		}
		sameFrame(t, out, ipipWant(t, s, 0x4242))
		pkt := decode(t, out)
		if ips := pkt.Layers(); len(ips) < 3 || ips[1].LayerType() != layers.LayerTypeIPv4 || ips[2].LayerType() != layers.LayerTypeIPv4 {
			t.Fatalf("gopacket layers: %v", pkt)
		}
		checkSums(t, out)
		// Too little headroom: nothing happens.
		if EncapIPIP(buf[Headroom-15:], 15, p, dipIP, ripIP, 1, macLB, macRS) != nil && !s.vlan {
			t.Fatal("EncapIPIP accepted 15 bytes of headroom for an untagged frame")
		}
	}
}

func TestFragNeeded(t *testing.T) {
	s := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: clientPort, dport: vipPort, df: true, vlan: true,
		tcpFlags: TCPFlagACK, payload: bytes.Repeat([]byte{7}, 1460)}
	f := s.build(t)
	p := parseOK(t, f)
	if !NeedFragICMP(p, 1500) {
		t.Fatal("NeedFragICMP(1500-byte DF packet, 1500) = false")
	}
	if NeedFragICMP(p, 1520) {
		t.Fatal("NeedFragICMP(1500-byte packet, 1520) = true")
	}
	noDF := s
	noDF.df = false
	if NeedFragICMP(parseOK(t, noDF.build(t)), 1500) {
		t.Fatal("NeedFragICMP true without DF")
	}
	dst := make([]byte, 128)
	out := BuildFragNeeded(dst, p, f, 1500, dipIP, macLB, macClient)
	if out == nil {
		t.Fatal("BuildFragNeeded refused")
	}
	inner := s
	inner.vlan = false
	want := spec{proto: ProtoICMP, src: dipIP, dst: clientIP, icmpType: ICMPDestUnreach, icmpCode: ICMPCodeFragNeeded,
		icmpRest: 1480, inner: &inner, ttl: 64, tos: 0xc0, srcMAC: macLB, dstMAC: macClient}
	sameFrame(t, out, want.build(t))
	decode(t, out)
	q := checkSums(t, out)
	if !q.HasInner || q.Inner.Src != clientIP || q.Inner.DstPort != vipPort || ICMPv4(out[q.L4:]).MTU() != 1480 {
		t.Fatalf("frag needed: %+v", q)
	}
	if BuildFragNeeded(dst[:FragNeededLen(p)-1], p, f, 1500, dipIP, macLB, macClient) != nil {
		t.Fatal("BuildFragNeeded wrote into a short buffer")
	}
}

func TestSegmentTCP(t *testing.T) {
	const mss = 1448
	payload := make([]byte, 60000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	s := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: clientPort, dport: vipPort, seq: 0xfffff000,
		id: 0xfff0, df: true, vlan: true, ipOptions: true, tcpOpts: true, partialL4: true,
		tcpFlags: TCPFlagACK | TCPFlagPSH | TCPFlagFIN | TCPFlagCWR | TCPFlagECE, payload: payload}
	f := s.build(t)
	orig := append([]byte(nil), f...)
	p := parseOK(t, f)
	scratch := make([]byte, 2048)
	var segs [][]byte
	n, err := SegmentTCP(f, p, mss, scratch, func(seg []byte) { segs = append(segs, append([]byte(nil), seg...)) })
	if err != nil {
		t.Fatal(err)
	}
	wantN := (len(payload) + mss - 1) / mss
	if n != wantN || len(segs) != wantN {
		t.Fatalf("segments = %d (%d emitted), want %d", n, len(segs), wantN)
	}
	sameFrame(t, f, orig)
	for i, seg := range segs {
		w := s
		w.partialL4 = false
		w.payload = payload[i*mss : min((i+1)*mss, len(payload))]
		w.seq = s.seq + uint32(i*mss)
		w.id = s.id + uint16(i)
		if i != wantN-1 {
			w.tcpFlags &^= TCPFlagFIN | TCPFlagPSH
		}
		if i != 0 {
			w.tcpFlags &^= TCPFlagCWR
		}
		sameFrame(t, seg, w.build(t))
		decode(t, seg)
		checkSums(t, seg)
	}

	// Small payload: one segment; errors.
	small := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: 1, dport: 2, payload: []byte("hi"), partialL4: true}
	f = small.build(t)
	p = parseOK(t, f)
	n, err = SegmentTCP(f, p, mss, scratch, func(seg []byte) {
		small.partialL4 = false
		w := small.build(t)
		sameFrame(t, seg, w[:parseOK(t, w).End]) // without gopacket's Ethernet padding
	})
	if n != 1 || err != nil {
		t.Fatalf("small: %d, %v", n, err)
	}
	if _, err := SegmentTCP(f, p, mss, scratch[:50], func([]byte) {}); err != ErrBufferTooSmall {
		t.Fatalf("short scratch: %v", err)
	}
	if _, err := SegmentTCP(f, p, 0, scratch, func([]byte) {}); err != ErrNotSegmentable {
		t.Fatalf("mss 0: %v", err)
	}
	u := spec{proto: ProtoUDP, src: clientIP, dst: vipIP}.build(t)
	if _, err := SegmentTCP(u, parseOK(t, u), mss, scratch, func([]byte) {}); err != ErrNotSegmentable {
		t.Fatalf("udp: %v", err)
	}
}
