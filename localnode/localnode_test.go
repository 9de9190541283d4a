package localnode

import (
	"net/netip"
	"slices"
	"testing"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestStateNormalizeAndDiff(t *testing.T) {
	s := State{
		VIPs:     addrs("198.51.100.2", "198.51.100.1", "198.51.100.2", "2001:db8::1"),
		MasqRIPs: addrs("203.0.113.12", "203.0.113.11"),
	}.Normalize()
	if !slices.Equal(s.VIPs, addrs("198.51.100.1", "198.51.100.2")) || !slices.Equal(s.MasqRIPs, addrs("203.0.113.11", "203.0.113.12")) {
		t.Fatalf("Normalize = %+v", s)
	}
	if s.Empty() || !(State{}).Empty() {
		t.Error("Empty is wrong")
	}
	add, del := diff(addrs("198.51.100.1", "198.51.100.2"), addrs("198.51.100.2", "198.51.100.3"))
	if !slices.Equal(add, addrs("198.51.100.3")) || !slices.Equal(del, addrs("198.51.100.1")) {
		t.Errorf("diff: add %v del %v", add, del)
	}
	if add, del := diff(nil, nil); add != nil || del != nil {
		t.Errorf("diff of nothing: %v %v", add, del)
	}
}

func TestAddrSet(t *testing.T) {
	s := NewAddrSet()
	a := netip.MustParseAddr("203.0.113.11")
	vip := netip.MustParseAddr("198.51.100.1")
	for _, l := range addrs("127.0.0.1", "127.1.2.3") {
		if !s.IsLocal(l, 0) {
			t.Errorf("%v is not local", l)
		}
	}
	if s.IsLocal(a, 0) {
		t.Fatal("empty set says local")
	}
	s.Update(a, 1, true)
	select {
	case <-s.Changed():
	default:
		t.Error("no change signalled")
	}
	s.Update(a, 1, true) // no change: no signal
	select {
	case <-s.Changed():
		t.Error("a repeated address signalled a change")
	default:
	}
	s.Update(vip, 9, true) // the tap's VIP
	if !s.IsLocal(a, 9) || s.IsLocal(vip, 9) || !s.IsLocal(vip, 0) {
		t.Errorf("IsLocal with the tap excluded is wrong")
	}
	s.Update(a, 2, true)
	s.Update(a, 1, false)
	if !s.IsLocal(a, 0) {
		t.Error("address still on interface 2 is not local")
	}
	s.Update(a, 2, false)
	if s.IsLocal(a, 0) {
		t.Error("removed address still local")
	}
	s.Update(netip.MustParseAddr("::ffff:203.0.113.20"), 3, true)
	if !s.IsLocal(netip.MustParseAddr("203.0.113.20"), 0) {
		t.Error("a v4-mapped address was not unmapped")
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"govs0", "tap-1", "a.b"} {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q): %v", n, err)
		}
	}
	for _, n := range []string{"", ".", "..", "a/b", "a b", "sixteen-chars-xx", "a:1"} {
		if ValidName(n) == nil {
			t.Errorf("ValidName(%q) accepted", n)
		}
	}
}
