package balancer

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"sync/atomic"
)

// MHTableSize is the number of entries of the mh scheduler's lookup table:
// IP_VS_MH_TAB_SIZE, primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] with the kernel's
// default index of 12.
const MHTableSize = 4093

const (
	// mhTabBits is IP_VS_MH_TAB_BITS, CONFIG_IP_VS_MH_TAB_INDEX / 2: weights
	// divided by their gcd are shifted right until they fit in this many bits.
	mhTabBits = 12 / 2
	// The fixed hsiphash keys of ip_vs_mh.c's generate_hash_secret.
	mhKey1 = 2654435761
	mhKey2 = 2654446892
)

// mhSched is ip_vs_mh.c, Maglev hashing (Eisenbud et al., NSDI 2016, 3.4):
// each realserver has a permutation of the table positions (an offset and a
// skip from two hashes of its address and port); the realservers take turns,
// in list order and weight/gcd (>> rshift) positions per turn, to claim
// their next free preferred position until the table is full. A source
// address (and port, with SchedPort) hashes to a position. Removing one of N
// realservers moves about 1/N of the sources; the rest keep theirs.
//
// As the kernel, the table is built from each realserver's last non-zero
// weight (dest->last_weight), so quiescing one (weight 0) leaves the table
// alone: its sources are refused, or with SchedFallback sent elsewhere, and
// they come back to it when its weight returns.
type mhSched struct {
	flags SchedFlags
	st    atomic.Pointer[mhState]
	last  map[*Dest]int32 // last_weight; touched only by Update
}

// mhState is one immutable lookup table: entries index dests.
type mhState struct {
	dests  []*Dest
	lookup []uint16
}

func newMH(flags SchedFlags) *mhSched {
	s := &mhSched{flags: flags, last: map[*Dest]int32{}}
	s.Update(nil)
	return s
}

func (s *mhSched) Name() SchedName { return SchedMH }

// mhHash is ip_vs_mh_hashkey for IPv4: addr and port in host order.
func mhHash(addr uint32, port uint16, key uint64, offset uint32) uint32 {
	return schedHsiphash32(offset+uint32(port)+addr, key, key)
}

// Update is ip_vs_mh_dest_changed: track last_weight as __ip_vs_update_dest
// does (set on add and on any non-zero weight), then ip_vs_mh_gcd_weight,
// ip_vs_mh_shift_weight, ip_vs_mh_permutate and ip_vs_mh_populate. As the
// kernel refuses a realserver beyond the table size, a list longer than
// MHTableSize leaves the table as it was.
func (s *mhSched) Update(dests []*Dest) {
	if len(dests) > MHTableSize {
		return
	}
	nd := append([]*Dest(nil), dests...)
	lw := make([]int, len(nd))
	last := make(map[*Dest]int32, len(nd))
	g, maxW := 0, 0
	for i, d := range nd {
		w := d.weight.Load()
		if old, ok := s.last[d]; ok && w == 0 {
			w = old // quiesced: keep the last non-zero weight
		}
		last[d] = w
		lw[i] = int(w)
		if lw[i] > 0 {
			if g > 0 {
				g = schedGCD(lw[i], g)
			} else {
				g = lw[i]
			}
		}
		maxW = max(maxW, lw[i])
	}
	s.last = last

	st := &mhState{dests: nd, lookup: make([]uint16, MHTableSize)}
	if g < 1 {
		// No realserver, or none ever had a weight: an empty table.
		for i := range st.lookup {
			st.lookup[i] = schedNoDest
		}
		s.st.Store(st)
		return
	}
	rshift := max(bits.Len(uint(maxW/g))-mhTabBits, 0)

	// ip_vs_mh_permutate
	type setup struct {
		perm, skip uint32
		turns      int
	}
	ds := make([]setup, len(nd))
	for i, d := range nd {
		addr := schedAddrFold(d.Addr)
		ds[i].perm = mhHash(addr, d.Port, mhKey1, 0) % MHTableSize
		ds[i].skip = mhHash(addr, d.Port, mhKey2, 0)%(MHTableSize-1) + 1
		ds[i].turns = (lw[i] / g) >> rshift
		if ds[i].turns == 0 && lw[i] != 0 {
			ds[i].turns = 1
		}
	}

	// ip_vs_mh_populate
	used := make([]bool, MHTableSize)
	n, count := 0, 0
	for n < MHTableSize {
		for p := 0; p < len(nd); {
			if ds[p].turns < 1 {
				p++ // added with weight 0: no place in the table
				continue
			}
			c := ds[p].perm
			for used[c] {
				ds[p].perm += ds[p].skip
				if ds[p].perm >= MHTableSize {
					ds[p].perm -= MHTableSize
				}
				c = ds[p].perm
			}
			used[c] = true
			st.lookup[c] = uint16(p)
			if n++; n == MHTableSize {
				break
			}
			if count++; count >= ds[p].turns {
				count = 0
				p++
			}
		}
	}
	s.st.Store(st)
}

// schedAddrFold is the address word ip_vs_mh_hashkey and ip_vs_sh_hashkey hash,
// in host order: the IPv4 address, or the XOR of an IPv6 address's words.
func schedAddrFold(a netip.Addr) uint32 {
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	return binary.BigEndian.Uint32(b[0:]) ^ binary.BigEndian.Uint32(b[4:]) ^
		binary.BigEndian.Uint32(b[8:]) ^ binary.BigEndian.Uint32(b[12:])
}

// Schedule is ip_vs_mh_schedule, with ip_vs_mh_get or, under SchedFallback,
// ip_vs_mh_get_fallback. A nil flow cannot be hashed and gets nil.
func (s *mhSched) Schedule(f *Flow) *Dest {
	if f == nil {
		return nil
	}
	st := s.st.Load()
	return hashSchedule(f, s.flags, st.lookup, st.dests, mhIndex)
}

// mhIndex is the lookup entry of a hash with offset, as ip_vs_mh_get and
// ip_vs_mh_get_fallback take it.
func mhIndex(addr uint32, port uint16, offset uint32) uint32 {
	return mhHash(addr, port, mhKey1, offset) % MHTableSize
}
