package forward

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tcp := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: clientPort, dport: vipPort,
		tcpFlags: TCPFlagSYN, id: 0x1234, ttl: 61, tos: 0x28, df: true, payload: []byte("hello")}
	vlanOpts := tcp
	vlanOpts.vlan, vlanOpts.ipOptions, vlanOpts.tcpOpts = true, true, true
	udp := spec{proto: ProtoUDP, src: clientIP, dst: vipIP, sport: 5353, dport: 53, payload: []byte("q"), padding: 20}
	echo := spec{proto: ProtoICMP, src: clientIP, dst: vipIP, icmpType: ICMPEcho, icmpRest: 0xbeef0001, payload: []byte("ping")}
	frag1 := udp
	frag1.mf, frag1.padding = true, 0
	frag2 := udp
	frag2.fragOff, frag2.padding = 185, 0
	unreach := spec{proto: ProtoICMP, src: routerIP, dst: vipIP, icmpType: ICMPDestUnreach, icmpCode: 3,
		inner: &spec{proto: ProtoUDP, src: vipIP, dst: clientIP, sport: vipPort, dport: clientPort, payload: []byte("abcdefgh")}}

	tests := []struct {
		name string
		spec spec
		want Packet
	}{
		{"tcp", tcp, Packet{EtherType: EtherTypeIPv4, L3: 14, L4: 34, End: 14 + 20 + 20 + 5,
			Proto: ProtoTCP, TOS: 0x28, TTL: 61, Src: clientIP, Dst: vipIP, ID: 0x1234, DontFrag: true,
			SrcPort: clientPort, DstPort: vipPort, TCPFlags: TCPFlagSYN, TCPHdrLen: 20}},
		{"vlan+ip options+tcp options", vlanOpts, Packet{EtherType: EtherTypeIPv4, Tagged: true, VLANTCI: 3<<13 | 42,
			L3: 18, L4: 18 + 32, End: 18 + 32 + 32 + 5,
			Proto: ProtoTCP, TOS: 0x28, TTL: 61, Src: clientIP, Dst: vipIP, ID: 0x1234, DontFrag: true,
			SrcPort: clientPort, DstPort: vipPort, TCPFlags: TCPFlagSYN, TCPHdrLen: 32}},
		{"udp with ethernet padding", udp, Packet{EtherType: EtherTypeIPv4, L3: 14, L4: 34, End: 14 + 20 + 8 + 1,
			Proto: ProtoUDP, TTL: 64, Src: clientIP, Dst: vipIP, SrcPort: 5353, DstPort: 53}},
		{"icmp echo", echo, Packet{EtherType: EtherTypeIPv4, L3: 14, L4: 34, End: 14 + 20 + 8 + 4,
			Proto: ProtoICMP, TTL: 64, Src: clientIP, Dst: vipIP, ICMPType: ICMPEcho, EchoID: 0xbeef}},
		{"first fragment", frag1, Packet{EtherType: EtherTypeIPv4, L3: 14, L4: 34, End: 14 + 20 + 8 + 1,
			Proto: ProtoUDP, TTL: 64, Src: clientIP, Dst: vipIP, MoreFrags: true, SrcPort: 5353, DstPort: 53}},
		{"later fragment", frag2, Packet{EtherType: EtherTypeIPv4, L3: 14, L4: 34, End: 14 + 20 + 8 + 1,
			Proto: ProtoUDP, TTL: 64, Src: clientIP, Dst: vipIP, FragOff: 185 * 8}},
		{"icmp port unreachable", unreach, Packet{EtherType: EtherTypeIPv4, L3: 14, L4: 34, End: 14 + 20 + 8 + 28,
			Proto: ProtoICMP, TTL: 64, Src: routerIP, Dst: vipIP, ICMPType: ICMPDestUnreach, ICMPCode: 3,
			HasInner: true, Inner: Quoted{L3: 42, L4: 62, Proto: ProtoUDP, Src: vipIP, Dst: clientIP,
				SrcPort: vipPort, DstPort: clientPort, HasPorts: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.spec.build(t)
			var p Packet
			if err := Parse(f, &p); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p != tt.want {
				t.Fatalf("Parse:\n got %+v\nwant %+v", p, tt.want)
			}
			if !IPv4(f[p.L3:p.End]).ChecksumValid() {
				t.Fatal("ChecksumValid = false on a gopacket-built header")
			}
		})
	}
}

func TestParseARP(t *testing.T) {
	f := make([]byte, 42)
	binary.BigEndian.PutUint16(f[ethType:], EtherTypeARP)
	var p Packet
	if err := Parse(f, &p); err != nil || p.EtherType != EtherTypeARP || p.Proto != 0 {
		t.Fatalf("Parse(ARP) = %v, %+v", err, p)
	}
	// Tagged ARP.
	f = make([]byte, 46)
	binary.BigEndian.PutUint16(f[ethType:], EtherTypeVLAN)
	binary.BigEndian.PutUint16(f[vlanTCI:], 7)
	binary.BigEndian.PutUint16(f[vlanType:], EtherTypeARP)
	if err := Parse(f, &p); err != nil || p.EtherType != EtherTypeARP || !p.Tagged || p.VLANTCI != 7 {
		t.Fatalf("Parse(tagged ARP) = %v, %+v", err, p)
	}
}

func TestParseErrors(t *testing.T) {
	good := spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: 1, dport: 2, payload: []byte("x")}.build(t)
	icmpErr := spec{proto: ProtoICMP, src: routerIP, dst: vipIP, icmpType: ICMPTimeExceeded,
		inner: &spec{proto: ProtoTCP, src: vipIP, dst: clientIP, sport: 1, dport: 2}}.build(t)
	mod := func(b []byte, f func(b []byte)) []byte {
		b = append([]byte(nil), b...)
		f(b)
		return b
	}
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrShort},
		{"13 bytes", good[:13], ErrShort},
		{"ipv6", mod(good, func(b []byte) { binary.BigEndian.PutUint16(b[ethType:], EtherTypeIPv6) }), ErrEtherType},
		{"double tag", mod(append(good[:12:12], 0x81, 0, 0, 1, 0x81, 0, 0, 2, 8, 0), func([]byte) {}), ErrEtherType},
		{"short vlan", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 1}, ErrShort},
		{"short ip", good[:14+19], ErrShort},
		{"version 6", mod(good, func(b []byte) { b[14] = 0x65 }), ErrBadVersion},
		{"ihl 4", mod(good, func(b []byte) { b[14] = 0x44 }), ErrBadIHL},
		{"ihl past end", good[:14+20+4], ErrShort}, // IHL 5 fine, then truncated TCP... see below
		{"ihl 15 short", mod(good[:14+40], func(b []byte) { b[14] = 0x4f }), ErrShort},
		{"total length past frame", mod(good, func(b []byte) { binary.BigEndian.PutUint16(b[16:], 1000) }), ErrBadLength},
		{"total length under ihl", mod(good, func(b []byte) { binary.BigEndian.PutUint16(b[16:], 19) }), ErrBadLength},
		{"tcp short", mod(good, func(b []byte) { binary.BigEndian.PutUint16(b[16:], 30) }), ErrShort},
		{"tcp doff 4", mod(good, func(b []byte) { b[34+12] = 0x40 }), ErrBadDataOffset},
		{"tcp doff past end", mod(good, func(b []byte) { b[34+12] = 0xf0 }), ErrBadDataOffset},
		{"quote short", mod(icmpErr, func(b []byte) { binary.BigEndian.PutUint16(b[16:], 20+8+27) }), ErrBadICMPQuote},
		{"quote not v4", mod(icmpErr, func(b []byte) { b[42] = 0x65 }), ErrBadICMPQuote},
		{"quote ihl 3", mod(icmpErr, func(b []byte) { b[42] = 0x43 }), ErrBadICMPQuote},
	}
	tests[8].want = ErrBadLength // frame cut inside the IP packet: total length past the end
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := Parse(tt.frame, &p); !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

// goldenSYN is a hand-checked frame: untagged, client 192.0.2.10:40000 to
// VIP 198.51.100.1:80, TCP SYN with no options, IP ID 0x1c46, DF, TTL 64.
const goldenSYN = "02000000000202000000000108004500" +
	"00281c4640004006" + "324b" + "c000020ac6336401" +
	"9c400050000000010000000050022000" + "0712" + "0000"

func TestParseGolden(t *testing.T) {
	f, err := hex.DecodeString(goldenSYN)
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := Parse(f, &p); err != nil {
		t.Fatal(err)
	}
	want := Packet{EtherType: EtherTypeIPv4, L3: 14, L4: 34, End: 54, Proto: ProtoTCP, TTL: 64,
		Src: clientIP, Dst: vipIP, ID: 0x1c46, DontFrag: true, SrcPort: 40000, DstPort: 80,
		TCPFlags: TCPFlagSYN, TCPHdrLen: 20}
	if p != want {
		t.Fatalf("got %+v\nwant %+v", p, want)
	}
	checkSums(t, f)
	decode(t, f)
}

// TestMasqInGolden: the golden SYN after MasqIn to 203.0.113.7:8080, in
// hex, with the checksums worked out once by the oracle and written down.
func TestMasqInGolden(t *testing.T) {
	f, _ := hex.DecodeString(goldenSYN)
	var p Packet
	if err := Parse(f, &p); err != nil {
		t.Fatal(err)
	}
	MasqIn(f, &p, ripIP, ripPort)
	const want = "02000000000202000000000108004500" +
		"00281c4640004006" + "2078" + "c000020acb007107" +
		"9c401f90000000010000000050022000" + "d5fe" + "0000"
	if got := hex.EncodeToString(f); got != want {
		t.Fatalf("MasqIn golden:\n got %s\nwant %s", got, want)
	}
	checkSums(t, f)
}

func TestParseZeroAllocs(t *testing.T) {
	frames := [][]byte{
		spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: 1, dport: 2}.build(t),
		spec{proto: ProtoICMP, src: routerIP, dst: vipIP, icmpType: ICMPTimeExceeded,
			inner: &spec{proto: ProtoTCP, src: vipIP, dst: clientIP, sport: 1, dport: 2}}.build(t),
		{1, 2, 3}, // error path
		func() []byte { // an IPv4 error (ipv4Error's out-of-line path)
			f := spec{proto: ProtoTCP, src: clientIP, dst: vipIP}.build(t)
			f[EthernetHeaderLen] = 0x44
			return f
		}(),
	}
	var p Packet
	for _, f := range frames {
		if n := testing.AllocsPerRun(100, func() { _ = Parse(f, &p) }); n != 0 {
			t.Errorf("Parse allocs = %v, want 0", n)
		}
	}
}

func TestErrorsDistinct(t *testing.T) {
	errs := []error{ErrShort, ErrEtherType, ErrBadVersion, ErrBadIHL, ErrBadLength, ErrBadDataOffset,
		ErrBadICMPQuote, ErrNotSegmentable, ErrBufferTooSmall}
	seen := map[string]bool{}
	for _, e := range errs {
		if !strings.HasPrefix(e.Error(), "forward: ") || seen[e.Error()] {
			t.Errorf("error %q: not prefixed or duplicate", e)
		}
		seen[e.Error()] = true
	}
}

func TestParseErrorNames(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	names := map[string]bool{}
	for e := range NumParseErrors {
		n := e.Name()
		if !snake.MatchString(n) || names[n] {
			t.Errorf("ParseError(%d).Name() = %q: not snake_case or duplicate", e, n)
		}
		names[n] = true
		var err error = e
		if !errors.Is(err, e) || !strings.HasPrefix(err.Error(), "forward: ") {
			t.Errorf("ParseError(%d): errors.Is or Error() %q wrong", e, err)
		}
		var pe ParseError
		if !errors.As(fmt.Errorf("wrapped: %w", err), &pe) || pe != e {
			t.Errorf("errors.As(wrapped %v) = %v", e, pe)
		}
	}
	if NumParseErrors.Name() != "unknown" || !strings.HasPrefix(NumParseErrors.Error(), "forward: ") {
		t.Errorf("out of range: %q, %q", NumParseErrors.Name(), NumParseErrors.Error())
	}
	if errors.Is(ErrShort, ErrBadIHL) {
		t.Error("ErrShort is ErrBadIHL")
	}
}
