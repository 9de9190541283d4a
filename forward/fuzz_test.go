package forward

import (
	"bytes"
	"testing"
)

// seedFrames are well-formed frames of every kind the tests build, as fuzz
// seeds.
func seedFrames(tb testing.TB) [][]byte {
	var out [][]byte
	for _, c := range masqCases() {
		out = append(out, c.s.build(tb))
	}
	for _, c := range icmpErrCases() {
		out = append(out, c.s.build(tb))
	}
	out = append(out,
		spec{proto: ProtoTCP, src: clientIP, dst: vipIP, sport: 1, dport: 2, payload: bytes.Repeat([]byte{1}, 3000), df: true, partialL4: true}.build(tb),
		[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06, 0, 1},
	)
	return out
}

const guard = 40 // canary bytes around the frame

// guarded copies frame between canaries; the returned frame has its
// capacity cut at its length, so nothing can grow it.
func guarded(frame []byte) (buf, f []byte) {
	buf = make([]byte, guard+len(frame)+guard)
	for i := range buf {
		buf[i] = 0xcc
	}
	copy(buf[guard:], frame)
	return buf, buf[guard : guard+len(frame) : guard+len(frame)]
}

// checkGuards fails if any canary byte outside buf[lo:hi] changed.
func checkGuards(t *testing.T, buf []byte, lo, hi int) {
	t.Helper()
	for i, b := range buf {
		if (i < lo || i >= hi) && b != 0xcc {
			t.Fatalf("write outside the frame at %d (frame %d..%d)", i, lo, hi)
		}
	}
}

func checkInvariants(t *testing.T, f []byte, p *Packet) {
	t.Helper()
	if p.EtherType != EtherTypeIPv4 {
		return
	}
	if !(p.L3 == 14 || p.L3 == 18) || p.L4 < p.L3+20 || p.L4 > p.End || p.End > len(f) {
		t.Fatalf("bad offsets %+v (len %d)", p, len(f))
	}
	if p.HasInner && (p.Inner.L3 != p.L4+8 || p.Inner.L4+8 > p.End) {
		t.Fatalf("bad inner offsets %+v", p)
	}
	if p.TCPHdrLen != 0 && p.L4+int(p.TCPHdrLen) > p.End {
		t.Fatalf("TCP header past end %+v", p)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p Packet
		if err := Parse(frame, &p); err != nil {
			if pe, ok := err.(ParseError); !ok || pe >= NumParseErrors {
				t.Fatalf("Parse returned %T %v, want a ParseError below NumParseErrors", err, err)
			}
			return
		}
		checkInvariants(t, frame, &p)
		if p.EtherType == EtherTypeIPv4 {
			ip := IPv4(frame[p.L3:p.End])
			_ = ip.ChecksumValid()
			_ = ip.Payload()
		}
	})
}

// fuzzRewrite runs rewrite on a guarded copy of every frame that parses and
// checks that nothing outside the frame changed and that the result parses.
func fuzzRewrite(f *testing.F, rewrite func(t *testing.T, frame []byte, p *Packet)) {
	for _, s := range seedFrames(f) {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, frame []byte, partial bool) {
		var p Packet
		if Parse(frame, &p) != nil || p.EtherType != EtherTypeIPv4 {
			return
		}
		buf, fr := guarded(frame)
		p.Partial = partial
		rewrite(t, fr, &p)
		checkGuards(t, buf, guard, guard+len(frame))
		var q Packet
		if err := Parse(fr, &q); err != nil {
			t.Fatalf("result does not parse: %v", err)
		}
		checkInvariants(t, fr, &q)
	})
}

// l4Valid reports whether a packet's full TCP/UDP checksum verifies.
func l4Valid(f []byte, p *Packet) bool {
	l4 := f[p.L4:p.End]
	return refSum(l4, refPseudo(p.Src, p.Dst, p.Proto, len(l4))) == 0xffff
}

func FuzzMasq(f *testing.F) {
	fuzzRewrite(f, func(t *testing.T, fr []byte, p *Packet) {
		ipOK := refSum(fr[p.L3:p.L4], 0) == 0xffff
		l4OK := !p.Partial && p.hasPorts() && !p.IsFragment() && l4Valid(fr, p) &&
			!(p.Proto == ProtoUDP && UDP(fr[p.L4:]).Checksum() == 0)
		MasqIn(fr, p, ripIP, ripPort)
		MasqOut(fr, p, vipIP, 7)
		if ipOK && refSum(fr[p.L3:p.L4], 0) != 0xffff {
			t.Fatal("valid IPv4 header checksum broken")
		}
		if l4OK && !l4Valid(fr, p) {
			t.Fatal("valid L4 checksum broken")
		}
	})
}

func FuzzMasqICMP(f *testing.F) {
	fuzzRewrite(f, func(t *testing.T, fr []byte, p *Packet) {
		if MasqICMPIn(fr, p, ripIP, ripPort) != p.HasInner {
			t.Fatal("MasqICMPIn result != HasInner")
		}
		if MasqICMPOut(fr, p, vipIP, vipPort) != p.HasInner {
			t.Fatal("MasqICMPOut result != HasInner")
		}
		if p.HasInner && (refSum(fr[p.L4:p.End], 0) != 0xffff || refSum(fr[p.Inner.L3:p.Inner.L4], 0) != 0xffff) {
			t.Fatal("ICMP or quoted IPv4 checksum not valid after translation")
		}
	})
}

func FuzzEchoReply(f *testing.F) {
	fuzzRewrite(f, func(t *testing.T, fr []byte, p *Packet) {
		ok := refSum(fr[p.L4:p.End], 0) == 0xffff
		if BuildEchoReply(fr, p) && ok && refSum(fr[p.L4:p.End], 0) != 0xffff {
			t.Fatal("valid ICMP checksum broken")
		}
	})
}

func FuzzMACs(f *testing.F) {
	fuzzRewrite(f, func(t *testing.T, fr []byte, p *Packet) {
		RewriteDR(fr, p, macRS, macLB)
		RewriteLocal(fr, p, macTap)
		SetMACs(fr, macGW, macLB)
	})
}

func FuzzCompleteChecksum(f *testing.F) {
	fuzzRewrite(f, func(t *testing.T, fr []byte, p *Packet) {
		for _, c := range [][2]int{{p.L4, 16}, {p.L4, 6}, {p.L4, 2}, {p.L3, 10}, {p.L4 + 3, 1}} {
			if CompleteChecksum(fr, p, c[0], c[1]) && c[0] == p.L4 && (p.Proto == ProtoTCP && c[1] == 16) &&
				!p.IsFragment() && !l4Valid(fr, p) {
				t.Fatal("completed TCP checksum does not verify")
			}
		}
	})
}

func FuzzEncapIPIP(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s, uint16(1500))
	}
	f.Fuzz(func(t *testing.T, frame []byte, mtu uint16) {
		var p Packet
		if Parse(frame, &p) != nil || p.EtherType != EtherTypeIPv4 {
			return
		}
		buf, _ := guarded(append(make([]byte, Headroom), frame...))
		end := guard + Headroom + len(frame)
		out := EncapIPIP(buf[guard:end:end], Headroom, &p, dipIP, ripIP, 1, macLB, macRS)
		checkGuards(t, buf, guard, end)
		if out != nil {
			var q Packet
			if err := Parse(out, &q); err != nil || q.Proto != ProtoIPIP || refSum(out[q.L3:q.L4], 0) != 0xffff {
				t.Fatalf("IPIP result: %v %+v", err, q)
			}
		}
		_ = NeedFragICMP(&p, int(mtu))
		dbuf, d := guarded(make([]byte, 100))
		if msg := BuildFragNeeded(d, &p, frame, int(mtu), dipIP, macLB, macClient); msg != nil {
			var q Packet
			err := Parse(msg, &q)
			if p.End-p.L4 < icmpQuoteMin {
				// The whole datagram is quoted, and it is shorter than
				// the 8 bytes Parse wants after a quoted header.
				if err != ErrBadICMPQuote {
					t.Fatalf("frag needed for a tiny datagram: %v", err)
				}
			} else if err != nil || !q.HasInner || refSum(msg[q.L4:q.End], 0) != 0xffff {
				t.Fatalf("frag needed: %v %+v", err, q)
			}
		}
		checkGuards(t, dbuf, guard, guard+100)
	})
}

func FuzzSegmentTCP(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s, uint16(536))
	}
	f.Fuzz(func(t *testing.T, frame []byte, mss uint16) {
		var p Packet
		if Parse(frame, &p) != nil || p.EtherType != EtherTypeIPv4 {
			return
		}
		orig := append([]byte(nil), frame...)
		sbuf, scratch := guarded(make([]byte, 1024))
		total := 0
		_, _ = SegmentTCP(frame, &p, int(mss), scratch, func(seg []byte) {
			var q Packet
			if err := Parse(seg, &q); err != nil || !l4Valid(seg, &q) || refSum(seg[q.L3:q.L4], 0) != 0xffff {
				t.Fatalf("segment: %v %+v", err, q)
			}
			total += q.End - q.L4 - int(q.TCPHdrLen)
		})
		checkGuards(t, sbuf, guard, guard+1024)
		if !bytes.Equal(frame, orig) {
			t.Fatal("SegmentTCP modified its input")
		}
		if total != 0 && total != p.End-p.L4-int(p.TCPHdrLen) {
			t.Fatalf("segments carry %d bytes, want %d", total, p.End-p.L4-int(p.TCPHdrLen))
		}
	})
}

// FuzzParseIPv4: a view ParseIPv4 accepts is a valid IPv4 header within
// the input, trimmed to its total length, and agrees with Parse.
func FuzzParseIPv4(f *testing.F) {
	for _, s := range seedFrames(f) {
		if len(s) > EthernetHeaderLen {
			f.Add(s[EthernetHeaderLen:])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, err := ParseIPv4(b)
		frame := append(make([]byte, EthernetHeaderLen, EthernetHeaderLen+len(b)), b...)
		Ethernet(frame).SetType(EtherTypeIPv4)
		var p Packet
		perr := Parse(frame, &p)
		if err != nil {
			if pe, ok := err.(ParseError); !ok || pe >= NumParseErrors || ip != nil {
				t.Fatalf("ParseIPv4 = %x, %v", []byte(ip), err)
			}
			if perr != err {
				t.Fatalf("ParseIPv4 error %v, Parse error %v", err, perr)
			}
			return
		}
		hl := ip.HeaderLength()
		if ip.Version() != 4 || hl < IPv4MinHeaderLen || hl > len(ip) || int(ip.TotalLength()) != len(ip) || len(ip) > len(b) {
			t.Fatalf("accepted a bad header %x", b)
		}
		if &ip[0] != &b[0] {
			t.Fatal("the view is a copy")
		}
		_ = ip.Payload()
		if perr == nil && (p.L4-p.L3 != hl || p.End-p.L3 != len(ip)) {
			t.Fatalf("Parse offsets %+v disagree with the view (%d, %d)", p, hl, len(ip))
		}
	})
}
