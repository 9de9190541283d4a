package csum

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// refChecksum is the slow RFC 1071 reference: 16-bit words one by one with
// an end-around carry after each addition. It is the oracle for everything
// else in this package.
func refChecksum(b []byte, initial uint32) uint16 {
	s := initial
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
		s = (s >> 16) + (s & 0xffff)
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = (s >> 16) + (s & 0xffff)
	}
	return uint16(s)
}

// refPseudo builds the 12-byte pseudo-header and sums it with refChecksum.
func refPseudo(src, dst [4]byte, proto uint8, length uint16) []byte {
	ph := make([]byte, 12)
	copy(ph[0:4], src[:])
	copy(ph[4:8], dst[:])
	ph[9] = proto
	binary.BigEndian.PutUint16(ph[10:12], length)
	return ph
}

// equivalent reports whether two checksum fields mean the same ones'
// complement number (0x0000 and 0xffff are both zero).
func equivalent(a, b uint16) bool {
	if a == b {
		return true
	}
	return (a == 0 || a == 0xffff) && (b == 0 || b == 0xffff)
}

func TestChecksumKnown(t *testing.T) {
	// RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Fatalf("Checksum(RFC 1071 example) = %#04x, want 0xddf2", got)
	}
	// A well-known IPv4 header (Wikipedia "IPv4 header checksum"): field b861.
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := ^Checksum(h, 0); got != 0xb861 {
		t.Fatalf("IPv4 header checksum = %#04x, want 0xb861", got)
	}
	binary.BigEndian.PutUint16(h[10:], 0xb861)
	if got := Checksum(h, 0); got != 0xffff {
		t.Fatalf("verify sum = %#04x, want 0xffff", got)
	}
	if got := Checksum(nil, 0); got != 0 {
		t.Fatalf("Checksum(nil) = %#04x", got)
	}
}

func TestChecksumAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 70000)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	// Every length up to 300 at every alignment offset 0..7, then big ones.
	for off := 0; off < 8; off++ {
		for n := 0; n <= 300; n++ {
			b := buf[off : off+n]
			init := r.Uint32()
			if got, want := Checksum(b, init), refChecksum(b, init); got != want {
				t.Fatalf("off %d len %d init %#x: got %#04x want %#04x", off, n, init, got, want)
			}
		}
	}
	for _, n := range []int{1499, 1500, 9000, 65535, 65536, 69999} {
		if got, want := Checksum(buf[:n], 0), refChecksum(buf[:n], 0); got != want {
			t.Fatalf("len %d: got %#04x want %#04x", n, got, want)
		}
	}
	// All 0xff: exercises the carries hardest.
	ff := make([]byte, 4096)
	for i := range ff {
		ff[i] = 0xff
	}
	for _, n := range []int{1, 2, 7, 8, 31, 32, 33, 4096} {
		for _, init := range []uint32{0, 0xffff, 0xffffffff} {
			if got, want := Checksum(ff[:n], init), refChecksum(ff[:n], init); got != want {
				t.Fatalf("0xff len %d init %#x: got %#04x want %#04x", n, init, got, want)
			}
		}
	}
}

func TestSumChains(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 2000)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for i := 0; i < 200; i++ {
		cut := 2 * r.IntN(len(b)/2)
		got := Checksum(b[cut:], Sum(b[:cut], 0))
		if want := refChecksum(b, 0); got != want {
			t.Fatalf("cut %d: got %#04x want %#04x", cut, got, want)
		}
	}
}

func TestPseudoHeader(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 10000; i++ {
		var src, dst [4]byte
		binary.BigEndian.PutUint32(src[:], r.Uint32())
		binary.BigEndian.PutUint32(dst[:], r.Uint32())
		proto := uint8(r.Uint32())
		length := uint16(r.Uint32())
		payload := make([]byte, r.IntN(64))
		for j := range payload {
			payload[j] = byte(r.Uint32())
		}
		want := refChecksum(append(refPseudo(src, dst, proto, length), payload...), 0)
		if got := Checksum(payload, IPv4PseudoHeader(src, dst, proto, length)); got != want {
			t.Fatalf("pseudo %v %v %d %d: got %#04x want %#04x", src, dst, proto, length, got, want)
		}
	}
}

// randomField builds a random buffer with a valid checksum field at off.
func randomField(r *rand.Rand, n, off int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[off], b[off+1] = 0, 0
	binary.BigEndian.PutUint16(b[off:], ^refChecksum(b, 0))
	return b
}

func TestUpdate16(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 100000; i++ {
		n := 4 + 2*r.IntN(40)
		b := randomField(r, n, 0)
		w := 2 + 2*r.IntN((n-2)/2)
		old := binary.BigEndian.Uint16(b[w:])
		nw := uint16(r.Uint32())
		if i%10 == 0 {
			nw = old // no-op change
		}
		binary.BigEndian.PutUint16(b[w:], nw)
		got := Update16(binary.BigEndian.Uint16(b), old, nw)
		b[0], b[1] = 0, 0
		want := ^refChecksum(b, 0)
		if !equivalent(got, want) {
			t.Fatalf("iter %d: got %#04x want %#04x", i, got, want)
		}
		binary.BigEndian.PutUint16(b, got)
		if s := refChecksum(b, 0); s != 0xffff {
			t.Fatalf("iter %d: updated data sums to %#04x", i, s)
		}
	}
}

func TestUpdate32(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 100000; i++ {
		n := 8 + 2*r.IntN(40)
		b := randomField(r, n, 0)
		w := 2 + 2*r.IntN((n-6)/2)
		var old, nw [4]byte
		copy(old[:], b[w:w+4])
		binary.BigEndian.PutUint32(nw[:], r.Uint32())
		copy(b[w:w+4], nw[:])
		got := Update32(binary.BigEndian.Uint16(b), old, nw)
		b[0], b[1] = 0, 0
		want := ^refChecksum(b, 0)
		if !equivalent(got, want) {
			t.Fatalf("iter %d: got %#04x want %#04x", i, got, want)
		}
	}
}

func TestUpdateAddress(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 100000; i++ {
		alen := 4
		if i%2 == 1 {
			alen = 16 // IPv6
		}
		n := 2 + alen + 2*r.IntN(40)
		b := randomField(r, n, 0)
		w := 2 + 2*r.IntN((n-alen)/2)
		old := make([]byte, alen)
		nw := make([]byte, alen)
		copy(old, b[w:w+alen])
		for j := range nw {
			nw[j] = byte(r.Uint32())
		}
		copy(b[w:w+alen], nw)
		got := UpdateAddress(binary.BigEndian.Uint16(b), old, nw)
		b[0], b[1] = 0, 0
		want := ^refChecksum(b, 0)
		if !equivalent(got, want) {
			t.Fatalf("iter %d (%d-byte address): got %#04x want %#04x", i, alen, got, want)
		}
	}
}

// TestUpdatePartial checks the CHECKSUM_PARTIAL helpers the way the NIC will
// use the field: field = pseudo-header sum (uncomplemented); after an address
// change and ^UpdateAddress(^field) the field equals the new pseudo-header sum, and
// completing the checksum over the segment gives the same result as a full
// computation with the new addresses.
func TestUpdatePartial(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 50000; i++ {
		var src, dst, ndst [4]byte
		binary.BigEndian.PutUint32(src[:], r.Uint32())
		binary.BigEndian.PutUint32(dst[:], r.Uint32())
		binary.BigEndian.PutUint32(ndst[:], r.Uint32())
		length := uint16(20 + r.IntN(1400))
		field := refChecksum(refPseudo(src, dst, 6, length), 0)

		// The opposite sense to a full checksum: the update on the complement.
		got := ^UpdateAddress(^field, dst[:], ndst[:])
		want := refChecksum(refPseudo(src, ndst, 6, length), 0)
		if !equivalent(got, want) {
			t.Fatalf("^UpdateAddress(^partial): got %#04x want %#04x", got, want)
		}
		nlen := uint16(20 + r.IntN(1400))
		got = UpdatePartial16(want, length, nlen)
		want = refChecksum(refPseudo(src, ndst, 6, nlen), 0)
		if !equivalent(got, want) {
			t.Fatalf("UpdatePartial16: got %#04x want %#04x", got, want)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	b := make([]byte, 1500)
	old, nw := [4]byte{1}, [4]byte{2}
	n := testing.AllocsPerRun(100, func() {
		_ = Checksum(b, 0)
		_ = Update16(1, 2, 3)
		_ = Update32(1, old, nw)
		_ = UpdateAddress(1, old[:], nw[:])
		_ = IPv4PseudoHeader([4]byte{1}, [4]byte{2}, 6, 20)
	})
	if n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}

var sink uint16

func benchChecksum(b *testing.B, n int) {
	buf := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		sink = Checksum(buf, 0)
	}
}

func BenchmarkChecksum20(b *testing.B)    { benchChecksum(b, 20) }
func BenchmarkChecksum64(b *testing.B)    { benchChecksum(b, 64) }
func BenchmarkChecksum1500(b *testing.B)  { benchChecksum(b, 1500) }
func BenchmarkChecksum65535(b *testing.B) { benchChecksum(b, 65535) }

func BenchmarkReference1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(1500)
	b.ReportAllocs()
	for b.Loop() {
		sink = refChecksum(buf, 0)
	}
}

func BenchmarkUpdate32(b *testing.B) {
	b.ReportAllocs()
	cs := uint16(0x1234)
	for b.Loop() {
		cs = Update32(cs, [4]byte{198, 51, 100, 1}, [4]byte{203, 0, 113, 7})
	}
	sink = cs
}
