package localnode

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// Defaults of Config.
const (
	DefaultName     = "govs0"
	DefaultTable    = 0x6776 // 26486, "gv": the routing table of local masq replies
	DefaultPriority = 1000   // of the "from RIP lookup Table" rules: before main (32766)
)

// ErrNotImplemented is returned on systems without tap devices.
var ErrNotImplemented = errors.New("localnode: tap devices are not implemented on this system")

// Config tells Open what to create.
type Config struct {
	Name     string // tap device name; DefaultName when empty
	Table    int    // routing table for local masq replies; DefaultTable when 0
	Priority int    // priority of the ip rules; DefaultPriority when 0
	// Sysctls records what Open changes outside the tap (rp_filter on
	// "all") so that Close can restore it; a fresh one when nil.
	Sysctls *Sysctls
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Table == 0 {
		c.Table = DefaultTable
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.Sysctls == nil {
		c.Sysctls = &Sysctls{}
	}
	return c
}

// ValidName checks a tap name as the kernel would (IFNAMSIZ, no '/', no
// space, not "." or "..").
func ValidName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("localnode: %q is not a valid interface name", name)
	}
	for _, c := range name {
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("localnode: %q is not a valid interface name", name)
		}
	}
	return nil
}

// State is what the host stack must be given for the current local
// realservers.
type State struct {
	// VIPs are the virtual addresses with a local realserver: each is a
	// /32 on the tap, so that the local service owns it.
	VIPs []netip.Addr
	// MasqRIPs are the local addresses of masqueraded realservers: traffic
	// from each is routed into the tap for the reverse NAT.
	MasqRIPs []netip.Addr
}

// Empty reports whether no local realserver is left.
func (s State) Empty() bool { return len(s.VIPs) == 0 && len(s.MasqRIPs) == 0 }

// Normalize sorts the addresses and removes duplicates and non-IPv4 ones.
func (s State) Normalize() State {
	return State{VIPs: normalize(s.VIPs), MasqRIPs: normalize(s.MasqRIPs)}
}

func normalize(in []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range in {
		if a.Is4() {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// diff returns what to add to and delete from have to make it want. Both
// are normalized (sorted, unique).
func diff(have, want []netip.Addr) (add, del []netip.Addr) {
	for _, a := range want {
		if _, found := slices.BinarySearchFunc(have, a, netip.Addr.Compare); !found {
			add = append(add, a)
		}
	}
	for _, a := range have {
		if _, found := slices.BinarySearchFunc(want, a, netip.Addr.Compare); !found {
			del = append(del, a)
		}
	}
	return add, del
}

// AddrSet is the host's IPv4 addresses by interface, kept current by Watch
// (or by Update in tests). It is safe for concurrent use.
type AddrSet struct {
	mu      sync.RWMutex
	addrs   map[netip.Addr]map[int]struct{} // address -> interfaces holding it
	changed chan struct{}
}

// NewAddrSet returns an empty set.
func NewAddrSet() *AddrSet {
	return &AddrSet{addrs: map[netip.Addr]map[int]struct{}{}, changed: make(chan struct{}, 1)}
}

// Update records that ifindex gained (add) or lost an address.
func (s *AddrSet) Update(a netip.Addr, ifindex int, add bool) {
	a = a.Unmap()
	if !a.Is4() {
		return
	}
	s.mu.Lock()
	m := s.addrs[a]
	_, had := m[ifindex]
	switch {
	case add && !had:
		if m == nil {
			m = map[int]struct{}{}
			s.addrs[a] = m
		}
		m[ifindex] = struct{}{}
	case !add && had:
		delete(m, ifindex)
		if len(m) == 0 {
			delete(s.addrs, a)
		}
	default:
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// IsLocal reports whether a belongs to this host: 127.0.0.0/8, or an
// address of an interface other than except (the tap, whose VIPs do not make
// a realserver local; 0 excludes nothing).
func (s *AddrSet) IsLocal(a netip.Addr, except int) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for ifi := range s.addrs[a] {
		if ifi != except || except == 0 {
			return true
		}
	}
	return false
}

// Changed is signalled (coalesced) after each change of the set.
func (s *AddrSet) Changed() <-chan struct{} { return s.changed }
