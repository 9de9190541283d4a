package dataplane

import "github.com/govs-lb/govs/balancer"

// fragTable remembers where the first fragment of a datagram went, so that
// later fragments (which carry no ports) follow it to the same realserver.
// Fragments of one datagram hash to one fanout socket (the kernel's flow
// hash of a fragment uses addresses only), so each worker keeps its own
// table and no lock is needed. It is a fixed array, pointer-free: a new
// datagram overwrites whatever shared its slot.
type fragTable struct {
	slots [fragSlots]fragEntry
}

const (
	fragSlots = 1024           // power of two
	fragTTL   = int64(2 * 1e9) // ns a first fragment is remembered
	fragMask  = uint32(fragSlots - 1)
)

type fragEntry struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
	used     bool
	expires  int64
	v        balancer.Verdict
}

func fragHash(src, dst [4]byte, proto uint8, id uint16) uint32 {
	h := uint32(2166136261)
	for _, b := range src {
		h = (h ^ uint32(b)) * 16777619
	}
	for _, b := range dst {
		h = (h ^ uint32(b)) * 16777619
	}
	h = (h ^ uint32(proto)) * 16777619
	h = (h ^ uint32(id>>8)) * 16777619
	h = (h ^ uint32(id&0xff)) * 16777619
	return h & fragMask
}

func (t *fragTable) insert(src, dst [4]byte, proto uint8, id uint16, v balancer.Verdict, now int64) {
	t.slots[fragHash(src, dst, proto, id)] = fragEntry{
		src: src, dst: dst, id: id, proto: proto, used: true, expires: now + fragTTL, v: v,
	}
}

func (t *fragTable) lookup(src, dst [4]byte, proto uint8, id uint16, now int64) (fragEntry, bool) {
	e := t.slots[fragHash(src, dst, proto, id)]
	if !e.used || e.src != src || e.dst != dst || e.proto != proto || e.id != id || now > e.expires {
		return fragEntry{}, false
	}
	return e, true
}
