package forward

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// pseudoHeader returns the TCP/UDP pseudo-header for addresses of 4 bytes
// (RFC 9293 section 3.1) or 16 bytes (RFC 8200 section 8.1), for the
// reference sums below.
func pseudoHeader(src, dst []byte, proto uint8, length int) []byte {
	ph := append(append([]byte(nil), src...), dst...)
	if len(src) == 4 {
		return append(ph, 0, proto, byte(length>>8), byte(length))
	}
	return append(ph, 0, 0, byte(length>>8), byte(length), 0, 0, 0, proto)
}

// transportCase is a random TCP or UDP segment with its pseudo-header
// addresses.
type transportCase struct {
	seg      []byte
	src, dst []byte
	proto    uint8
	csumOff  int
}

func randomTransport(r *rand.Rand, proto uint8, alen int) transportCase {
	c := transportCase{proto: proto, src: make([]byte, alen), dst: make([]byte, alen), csumOff: tcpCsum}
	hl := TCPMinHeaderLen
	if proto == ProtoUDP {
		hl, c.csumOff = UDPHeaderLen, udpCsum
	}
	c.seg = make([]byte, hl+r.IntN(64))
	for _, b := range [][]byte{c.seg, c.src, c.dst} {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	return c
}

// sum is the reference sum over pseudo-header and segment, field included.
func (c transportCase) sum() uint16 {
	return refSum(append(pseudoHeader(c.src, c.dst, c.proto, len(c.seg)), c.seg...), 0)
}

// fill sets the checksum field: full, or the pseudo-header sum only
// (CHECKSUM_PARTIAL).
func (c transportCase) fill(full bool) {
	binary.BigEndian.PutUint16(c.seg[c.csumOff:], 0)
	v := refSum(pseudoHeader(c.src, c.dst, c.proto, len(c.seg)), 0)
	if full {
		v = ^c.sum()
	}
	binary.BigEndian.PutUint16(c.seg[c.csumOff:], v)
}

func (c transportCase) field() uint16 { return binary.BigEndian.Uint16(c.seg[c.csumOff:]) }

// transportView is what the tests exercise on both views.
type transportView interface {
	SourcePort() uint16
	DestinationPort() uint16
	SetSourcePortWithChecksumUpdate(uint16, bool)
	SetDestinationPortWithChecksumUpdate(uint16, bool)
	UpdateChecksumPseudoHeaderAddress(old, new []byte, full bool)
}

func (c transportCase) view() transportView {
	if c.proto == ProtoTCP {
		return TCP(c.seg)
	}
	return UDP(c.seg)
}

// TestTransportSettersFull changes ports and pseudo-header addresses
// through the views and checks every result against a full recomputation:
// the segment must still verify (sum 0xffff) under the new pseudo-header.
func TestTransportSettersFull(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		proto := []uint8{ProtoTCP, ProtoUDP}[i%2]
		alen := []int{4, 16}[i/2%2]
		c := randomTransport(r, proto, alen)
		c.fill(true)
		if c.proto == ProtoUDP && c.field() == 0 {
			continue // "no checksum": TestUDPZeroChecksum
		}
		v := c.view()
		sp, dp := uint16(r.Uint32()), uint16(r.Uint32())
		newSrc, newDst := make([]byte, alen), make([]byte, alen)
		for j := range newSrc {
			newSrc[j], newDst[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		v.SetSourcePortWithChecksumUpdate(sp, true)
		v.SetDestinationPortWithChecksumUpdate(dp, true)
		v.UpdateChecksumPseudoHeaderAddress(c.src, newSrc, true)
		copy(c.src, newSrc)
		v.UpdateChecksumPseudoHeaderAddress(c.dst, newDst, true)
		copy(c.dst, newDst)
		if v.SourcePort() != sp || v.DestinationPort() != dp {
			t.Fatalf("iter %d: ports %d %d, want %d %d", i, v.SourcePort(), v.DestinationPort(), sp, dp)
		}
		if s := c.sum(); s != 0xffff {
			t.Fatalf("iter %d (proto %d, %d-byte addresses): segment sums to %#04x after the setters", i, proto, alen, s)
		}
		if c.proto == ProtoUDP && c.field() == 0 {
			t.Fatalf("iter %d: UDP checksum came out as zero, want 0xffff", i)
		}
	}
}

// TestTransportSettersPartial: with a CHECKSUM_PARTIAL field, an address
// change leaves the field equal to the new pseudo-header sum and a port
// change leaves it alone.
func TestTransportSettersPartial(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		proto := []uint8{ProtoTCP, ProtoUDP}[i%2]
		alen := []int{4, 16}[i/2%2]
		c := randomTransport(r, proto, alen)
		c.fill(false)
		v := c.view()
		before := c.field()
		v.SetSourcePortWithChecksumUpdate(uint16(r.Uint32()), false)
		v.SetDestinationPortWithChecksumUpdate(uint16(r.Uint32()), false)
		if c.field() != before {
			t.Fatalf("iter %d: a port change moved a partial field %#04x -> %#04x", i, before, c.field())
		}
		newDst := make([]byte, alen)
		for j := range newDst {
			newDst[j] = byte(r.Uint32())
		}
		v.UpdateChecksumPseudoHeaderAddress(c.dst, newDst, false)
		copy(c.dst, newDst)
		want := refSum(pseudoHeader(c.src, c.dst, c.proto, len(c.seg)), 0)
		if got := c.field(); got != want && !(got == 0 && want == 0xffff || got == 0xffff && want == 0) {
			t.Fatalf("iter %d: partial field %#04x, want the pseudo-header sum %#04x", i, got, want)
		}
	}
}

// TestUDPZeroChecksum: a UDP checksum of zero means none and stays zero
// through every full-checksum setter.
func TestUDPZeroChecksum(t *testing.T) {
	u := UDP(make([]byte, UDPHeaderLen+4))
	u.SetSourcePortWithChecksumUpdate(1234, true)
	u.SetDestinationPortWithChecksumUpdate(53, true)
	u.UpdateChecksumPseudoHeaderAddress([]byte{192, 0, 2, 1}, []byte{203, 0, 113, 7}, true)
	if u.Checksum() != 0 || u.SourcePort() != 1234 || u.DestinationPort() != 53 {
		t.Fatalf("zero checksum: %x", []byte(u))
	}
}

// TestUDPComputedZero: an update whose result is zero writes 0xffff.
func TestUDPComputedZero(t *testing.T) {
	// Field 0xfffe, port 1 -> 0: ~(~0xfffe + ~1 + 0) = ~(1 + 0xfffe) = 0.
	u := UDP(make([]byte, UDPHeaderLen))
	u.SetSourcePort(1)
	u.SetChecksum(0xfffe)
	u.SetSourcePortWithChecksumUpdate(0, true)
	if u.Checksum() != 0xffff {
		t.Fatalf("checksum %#04x, want 0xffff", u.Checksum())
	}
}

func TestIPv4AddressSetters(t *testing.T) {
	f := spec{proto: ProtoUDP, src: clientIP, dst: vipIP, sport: 1, dport: 2}.build(t)
	ip := IPv4(f[EthernetHeaderLen:])
	if ip.Source() != netip.AddrFrom4(clientIP) || ip.Destination() != netip.AddrFrom4(vipIP) {
		t.Fatalf("Source, Destination = %v, %v", ip.Source(), ip.Destination())
	}
	if string(ip.SourceSlice()) != string(clientIP[:]) || string(ip.DestinationSlice()) != string(vipIP[:]) {
		t.Fatal("SourceSlice or DestinationSlice wrong")
	}
	rip, dip := netip.AddrFrom4(ripIP), netip.AddrFrom4(dipIP)
	ip.SetSourceWithChecksumUpdate(dip)
	ip.SetDestinationWithChecksumUpdate(rip)
	if ip.Source() != dip || ip.Destination() != rip || !ip.ChecksumValid() {
		t.Fatalf("after the checksum-updating setters: %v -> %v, checksum valid %v", ip.Source(), ip.Destination(), ip.ChecksumValid())
	}
	if ip.Checksum() != ip.CalculateChecksum() {
		t.Fatalf("checksum %#04x, full recomputation %#04x", ip.Checksum(), ip.CalculateChecksum())
	}
	ip.SetSource(netip.AddrFrom4(clientIP))
	ip.SetDestination(netip.AddrFrom4(vipIP))
	if ip.Source() != netip.AddrFrom4(clientIP) || ip.Destination() != netip.AddrFrom4(vipIP) {
		t.Fatal("SetSource or SetDestination wrong")
	}
}

func TestViewSettersZeroAllocs(t *testing.T) {
	seg := make([]byte, 40)
	old, nw := [4]byte{192, 0, 2, 1}, [4]byte{203, 0, 113, 7}
	ip := IPv4(spec{proto: ProtoTCP, src: clientIP, dst: vipIP}.build(t)[EthernetHeaderLen:])
	a := netip.AddrFrom4(ripIP)
	if n := testing.AllocsPerRun(100, func() {
		TCP(seg).SetDestinationPortWithChecksumUpdate(8080, true)
		TCP(seg).UpdateChecksumPseudoHeaderAddress(old[:], nw[:], true)
		UDP(seg).SetSourcePortWithChecksumUpdate(53, true)
		UDP(seg).UpdateChecksumPseudoHeaderAddress(old[:], nw[:], false)
		ip.SetDestinationWithChecksumUpdate(a)
		_ = ip.Source()
	}); n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}

func TestARPView(t *testing.T) {
	spa, tpa := netip.AddrFrom4(clientIP), netip.AddrFrom4(vipIP)
	a := ARP(make([]byte, ARPIPv4Len))
	a.Encode(ARPRequest, macClient, spa, [6]byte{}, tpa)
	// RFC 826 for IPv4 over Ethernet, written out by hand.
	want := []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 10, 0, 0, 0, 0, 0, 0, 198, 51, 100, 1}
	if string(a) != string(want) {
		t.Fatalf("Encode:\n got %x\nwant %x", []byte(a), want)
	}
	if !a.IsIPv4OverEthernet() || a.Op() != ARPRequest || a.SenderHardwareAddress() != macClient ||
		a.SenderProtocolAddress() != spa || a.TargetHardwareAddress() != [6]byte{} || a.TargetProtocolAddress() != tpa {
		t.Fatalf("accessors disagree with Encode: %x", []byte(a))
	}
	for _, i := range []int{arpHType + 1, arpPType, arpHLen, arpPLen} {
		b := append(ARP(nil), a...)
		b[i]++
		if b.IsIPv4OverEthernet() {
			t.Errorf("byte %d changed: still IPv4 over Ethernet", i)
		}
	}
}

// TestEncode builds frames with the Encode methods and checks them with
// gopacket and the reference sums.
func TestEncode(t *testing.T) {
	for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
		hl := TCPMinHeaderLen
		if proto == ProtoUDP {
			hl = UDPHeaderLen
		}
		payload := []byte("abcdefg")
		f := make([]byte, EthernetHeaderLen+IPv4MinHeaderLen+hl+len(payload))
		SetMACs(f, macLB, macClient)
		Ethernet(f).SetType(EtherTypeIPv4)
		ip := IPv4(f[EthernetHeaderLen:])
		ip.Encode(&IPv4Fields{TOS: 0x10, TotalLength: uint16(len(ip)), ID: 7, DontFragment: true, TTL: 61,
			Protocol: proto, Src: netip.AddrFrom4(clientIP), Dst: netip.AddrFrom4(vipIP)})
		l4 := ip[IPv4MinHeaderLen:]
		copy(l4[hl:], payload)
		if proto == ProtoTCP {
			TCP(l4).Encode(&TCPFields{SrcPort: clientPort, DstPort: vipPort, Seq: 1000, Ack: 1,
				DataOffset: TCPMinHeaderLen, Flags: TCPFlagACK | TCPFlagPSH, Window: 502})
		} else {
			UDP(l4).Encode(&UDPFields{SrcPort: clientPort, DstPort: vipPort, Length: uint16(len(l4))})
		}
		var p Packet
		if err := Parse(f, &p); err != nil {
			t.Fatal(err)
		}
		if TransportChecksumValid(f, &p) != (proto == ProtoUDP) {
			t.Errorf("proto %d: TransportChecksumValid before SetTransportChecksum", proto)
		}
		if !SetTransportChecksum(f, &p) || !TransportChecksumValid(f, &p) {
			t.Fatalf("proto %d: SetTransportChecksum failed", proto)
		}
		want := Packet{EtherType: EtherTypeIPv4, L3: 14, L4: 34, End: len(f), Proto: proto, TOS: 0x10, TTL: 61,
			Src: clientIP, Dst: vipIP, ID: 7, DontFrag: true, SrcPort: clientPort, DstPort: vipPort}
		if proto == ProtoTCP {
			want.TCPFlags, want.TCPHdrLen = TCPFlagACK|TCPFlagPSH, TCPMinHeaderLen
		}
		if got := checkSums(t, f); got != want {
			t.Fatalf("proto %d:\n got %+v\nwant %+v", proto, got, want)
		}
		decode(t, f)
		f[len(f)-1]++
		if TransportChecksumValid(f, &p) {
			t.Errorf("proto %d: a changed byte still verifies", proto)
		}
	}
	icmp := spec{proto: ProtoICMP, src: clientIP, dst: vipIP, icmpType: ICMPEcho}.build(t)
	p := parseOK(t, icmp)
	if SetTransportChecksum(icmp, p) || TransportChecksumValid(icmp, p) {
		t.Error("ICMP has no transport checksum")
	}
}

// TestIPv4CalculateChecksum compares CalculateChecksum with the reference
// sum over the header with its checksum field zeroed, bit for bit, for
// random headers and field values (0x0000 and 0xffff included).
func TestIPv4CalculateChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 100000 {
		hl := IPv4MinHeaderLen + 4*r.IntN(11)
		b := IPv4(make([]byte, hl))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		b[ipVerIHL] = 0x40 | byte(hl/4)
		switch i % 4 {
		case 0:
			b.SetChecksum(0)
		case 1:
			b.SetChecksum(0xffff)
		}
		z := append(IPv4(nil), b...)
		z.SetChecksum(0)
		if got, want := b.CalculateChecksum(), ^refSum(z, 0); got != want {
			t.Fatalf("iter %d: CalculateChecksum %#04x, reference %#04x (header %x)", i, got, want, []byte(b))
		}
	}
}
