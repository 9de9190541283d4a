package arp

import (
	"encoding/binary"
	"testing"
)

func pfx(a [4]byte, bits int, gw [4]byte, ifindex int32, ok bool) lpmRoute {
	m := uint32(0)
	if bits > 0 {
		m = uint32(0xffffffff) << (32 - bits)
	}
	return lpmRoute{prefix: binary.BigEndian.Uint32(a[:]) & m, mask: m, bits: bits,
		route: route{gw: gw, ifindex: ifindex, ok: ok}}
}

func TestLPMLookup(t *testing.T) {
	gw := [4]byte{192, 0, 2, 254}
	tb := lpmTable{ // sorted as loadLPM sorts: longest first
		pfx([4]byte{203, 0, 113, 128}, 25, [4]byte{}, 9, false), // out of an interface govs does not own
		pfx([4]byte{203, 0, 113, 0}, 24, [4]byte{}, 3, true),
		pfx([4]byte{}, 0, gw, 2, true),
	}
	for _, c := range []struct {
		dst     [4]byte
		wantGW  [4]byte
		wantIf  int32
		wantOK  bool
		comment string
	}{
		{[4]byte{203, 0, 113, 11}, [4]byte{203, 0, 113, 11}, 3, true, "on-link: the next hop is the destination"},
		{[4]byte{203, 0, 113, 200}, [4]byte{}, 0, false, "a longer prefix out of another interface shadows"},
		{[4]byte{192, 0, 2, 77}, gw, 2, true, "default route"},
	} {
		e := tb.lookup(c.dst)
		if e.ok != c.wantOK || (c.wantOK && (e.gw != c.wantGW || e.ifindex != c.wantIf)) {
			t.Errorf("%v (%s): got gw %v if %d ok %v", c.dst, c.comment, e.gw, e.ifindex, e.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { tb.lookup([4]byte{192, 0, 2, 1}) }); n != 0 {
		t.Errorf("lookup allocates %v times", n)
	}
	if e := (lpmTable{}).lookup([4]byte{1, 2, 3, 4}); e.ok {
		t.Errorf("empty table answered %+v", e)
	}
}
