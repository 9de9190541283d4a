package balancer

import (
	"encoding/binary"
	"sync/atomic"
)

// SHTableSize is the number of buckets of the sh scheduler's table
// (IP_VS_SH_TAB_SIZE with the default CONFIG_IP_VS_SH_TAB_BITS of 8).
const SHTableSize = 1 << shTabBits

const (
	shTabBits   = 8
	shTabMask   = SHTableSize - 1
	schedNoDest = 0xffff // empty bucket in the sh and mh tables
)

// shSched is ip_vs_sh.c: a 256-bucket table filled with the realservers in
// list order, each repeated weight times (a weight-0 realserver still takes
// one bucket per round), and indexed by a hash of the source address (and
// port, with SchedPort). A quiesced realserver in the hashed bucket refuses
// the connection, unless SchedFallback lets the scheduler probe the buckets
// after it.
type shSched struct {
	flags SchedFlags
	st    atomic.Pointer[shState]
}

// shState is one immutable table: bucket values index dests.
type shState struct {
	dests   []*Dest
	buckets [SHTableSize]uint16
}

func newSH(flags SchedFlags) *shSched {
	s := &shSched{flags: flags}
	s.Update(nil)
	return s
}

func (s *shSched) Name() SchedName { return SchedSH }

// Update is ip_vs_sh_reassign, reading each weight once.
func (s *shSched) Update(dests []*Dest) {
	st := &shState{dests: append([]*Dest(nil), dests...)}
	p, count := 0, 0
	for i := range st.buckets {
		if len(st.dests) == 0 {
			st.buckets[i] = schedNoDest
			continue
		}
		st.buckets[i] = uint16(p)
		// Do not move to the next realserver until its weight is filled.
		count++
		if count >= int(st.dests[p].weight.Load()) {
			p = (p + 1) % len(st.dests)
			count = 0
		}
	}
	s.st.Store(st)
}

// shHash is ip_vs_sh_hashkey for IPv4: addr and port in host order.
func shHash(addr uint32, port uint16, offset uint32) uint32 {
	return (offset + schedHash32(uint32(port)+addr, shTabBits)) & shTabMask
}

// schedHash32 is the kernel's hash_32() (include/linux/hash.h): multiply by
// GOLDEN_RATIO_32 and keep the top bits.
func schedHash32(v uint32, bits uint) uint32 {
	return (v * 0x61C88647) >> (32 - bits)
}

// Schedule is ip_vs_sh_schedule, with ip_vs_sh_get or, under SchedFallback,
// ip_vs_sh_get_fallback. A nil flow cannot be hashed and gets nil.
func (s *shSched) Schedule(f *Flow) *Dest {
	if f == nil {
		return nil
	}
	st := s.st.Load()
	return hashSchedule(f, s.flags, st.buckets[:], st.dests, shHash)
}

// hashSchedule is the part of Schedule that sh and mh share: hash the
// source address (and, under SchedPort, port) with offset 0 to an entry of
// table, take its realserver unless it is quiesced, and under
// SchedFallback walk on from that entry, rehashing with each offset, for
// the first available realserver (ip_vs_sh_get_fallback,
// ip_vs_mh_get_fallback). index maps addr, port and an offset to an entry;
// an empty entry ends the search.
func hashSchedule(f *Flow, flags SchedFlags, table []uint16, dests []*Dest, index func(addr uint32, port uint16, offset uint32) uint32) *Dest {
	addr := binary.BigEndian.Uint32(f.Src[:])
	var port uint16
	if flags&SchedPort != 0 {
		port = f.SrcPort
	}
	ihash := index(addr, port, 0)
	e := table[ihash]
	if e == schedNoDest {
		return nil
	}
	if d := dests[e]; d.weight.Load() > 0 {
		return d
	}
	if flags&SchedFallback == 0 {
		return nil
	}
	n := uint32(len(table))
	for off := uint32(0); off < n; off++ {
		e := table[index(addr, port, (off+ihash)%n)]
		if e == schedNoDest {
			return nil
		}
		if d := dests[e]; d.weight.Load() > 0 {
			return d
		}
	}
	return nil
}
