package balancer

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The connection table (IPVS's ip_vs_conn_tab) holds connections and
// persistence templates in power-of-two shards. Every entry is a conn: a
// pointer-free struct of integers and arrays, so the garbage collector never
// scans the table however large it grows.
//
//	shard = clientHash(proto, caddr, cport) >> shardShift
//
// Both keys of a connection contain the client's address and port, so a
// connection's forward entry (proto, caddr, cport, vaddr, vport) and its
// reverse entry (proto, daddr, dport, caddr, cport, masq only) live in the
// same shard, and Out locks exactly one shard, as In does.
//
// Inside a shard, entries sit in a slab of fixed-size chunks (addresses never
// move, growth never copies), and two chained hash indexes of uint32 slot
// references (slot+1; 0 ends a chain) find them: fwd for In, rev for Out.
// Free slots form a list through nextF.

const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1

	// maxShardSlots bounds the slots of one shard so that a template handle
	// (shard<<24 | ref) fits a uint32.
	maxShardSlots = 1<<24 - 1
	// MaxShards is the largest Config.Shards.
	MaxShards = 256

	initialBuckets = 64
)

// Entry flags.
const (
	fLive     uint8 = 1 << iota // slot in use
	fInactive                   // IP_VS_CONN_F_INACTIVE: counted in the dest's inactconns
	fNoOutput                   // IP_VS_CONN_F_NOOUTPUT: the director sees one direction (not masq)
	fTemplate                   // IP_VS_CONN_F_TEMPLATE: a persistence template
	fRev                        // linked in the reverse index (masq)
	fUnhashed                   // an invalidated template: out of the forward index, waiting to expire
)

// conn is one connection or persistence template. 56 bytes, no pointers.
type conn struct {
	expires int64 // deadline in the caller's clock (ns)

	caddr [4]byte // client (templates: client network)
	vaddr [4]byte // virtual address
	daddr [4]byte // realserver
	cport uint16  // templates: 0
	vport uint16  // templates: the service port (0 for port-zero services)
	dport uint16

	proto  uint8
	state  uint8
	flags  uint8
	method Method

	dest uint32 // dest id (registry index)
	svc  uint32 // service id, for the counters
	// ctl is, for a connection, the handle of its persistence template (0:
	// none); for a template, n_control: the connections it controls.
	ctl     uint32
	timeout uint32 // templates: persistence timeout in seconds

	nextF uint32 // forward chain, or the free list
	nextR uint32 // reverse chain
}

type shard struct {
	mu     sync.Mutex
	chunks [][]conn
	fwd    []uint32
	rev    []uint32
	mask   uint32
	used   uint32 // slots handed out (high-water mark)
	free   uint32 // head of the free list
	live   uint32 // entries in use
	sweep  uint32 // expiry cursor: next slot to examine
}

// paddedShard keeps each shard's lock and indexes on cache lines of their own.
type paddedShard struct {
	shard
	_ [(64 - unsafe.Sizeof(shard{})%64) % 64]byte
}

// hasher is a seeded mix of the tuple (murmur3's finaliser over packed keys).
type hasher struct{ s0, s1, s2 uint64 }

func fmix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func be32(a [4]byte) uint32 { return binary.BigEndian.Uint32(a[:]) }

// kind distinguishes templates from connections in the hash.
const kindTemplate = 0x100

func (h *hasher) client(kindProto uint16, caddr [4]byte, cport uint16) uint64 {
	return fmix(uint64(be32(caddr))<<32 | uint64(cport)<<16 | uint64(kindProto) ^ h.s0)
}

func (h *hasher) fwd(ch uint64, vaddr [4]byte, vport uint16) uint64 {
	return fmix(ch ^ (uint64(be32(vaddr))<<16 | uint64(vport)) ^ h.s1)
}

func (h *hasher) rev(ch uint64, daddr [4]byte, dport uint16) uint64 {
	return fmix(ch ^ (uint64(be32(daddr))<<16 | uint64(dport)) ^ h.s2)
}

type table struct {
	hasher
	shards     []paddedShard
	shardShift uint
	count      atomic.Int64 // entries in all shards
	max        int64
}

func (t *table) init(shards int, max int64, s0, s1, s2 uint64) {
	t.hasher = hasher{s0, s1, s2}
	t.shards = make([]paddedShard, shards)
	bits := uint(0)
	for 1<<bits < shards {
		bits++
	}
	t.shardShift = 64 - bits
	t.max = max
	for i := range t.shards {
		s := &t.shards[i].shard
		s.fwd = make([]uint32, initialBuckets)
		s.rev = make([]uint32, initialBuckets)
		s.mask = initialBuckets - 1
	}
}

func (t *table) shardIndex(ch uint64) uint32 { return uint32(ch >> t.shardShift) }

func (t *table) shardFor(ch uint64) *shard { return &t.shards[t.shardIndex(ch)].shard }

func (s *shard) at(ref uint32) *conn {
	i := ref - 1
	return &s.chunks[i>>chunkBits][i&chunkMask]
}

// findFwd returns the entry with the forward key, or 0.
func (s *shard) findFwd(fh uint64, proto uint8, tmpl uint8, caddr [4]byte, cport uint16, vaddr [4]byte, vport uint16) uint32 {
	for ref := s.fwd[uint32(fh)&s.mask]; ref != 0; {
		c := s.at(ref)
		if c.caddr == caddr && c.cport == cport && c.vport == vport && c.vaddr == vaddr &&
			c.proto == proto && c.flags&fTemplate == tmpl {
			return ref
		}
		ref = c.nextF
	}
	return 0
}

// findRev returns the masq connection with the reverse key, or 0.
func (s *shard) findRev(rh uint64, proto uint8, daddr [4]byte, dport uint16, caddr [4]byte, cport uint16) uint32 {
	for ref := s.rev[uint32(rh)&s.mask]; ref != 0; {
		c := s.at(ref)
		if c.caddr == caddr && c.cport == cport && c.dport == dport && c.daddr == daddr && c.proto == proto {
			return ref
		}
		ref = c.nextR
	}
	return 0
}

// alloc takes a free slot; false when the shard is at maxShardSlots.
func (s *shard) alloc() (uint32, bool) {
	if ref := s.free; ref != 0 {
		s.free = s.at(ref).nextF
		return ref, true
	}
	if s.used >= maxShardSlots {
		return 0, false
	}
	if int(s.used>>chunkBits) >= len(s.chunks) {
		s.chunks = append(s.chunks, make([]conn, chunkSize))
	}
	s.used++
	return s.used, true
}

func (s *shard) linkFwd(fh uint64, ref uint32, c *conn) {
	b := uint32(fh) & s.mask
	c.nextF = s.fwd[b]
	s.fwd[b] = ref
}

func (s *shard) linkRev(rh uint64, ref uint32, c *conn) {
	b := uint32(rh) & s.mask
	c.nextR = s.rev[b]
	s.rev[b] = ref
	c.flags |= fRev
}

func (s *shard) unlinkFwd(fh uint64, ref uint32) {
	p := &s.fwd[uint32(fh)&s.mask]
	for *p != 0 {
		if *p == ref {
			*p = s.at(ref).nextF
			return
		}
		p = &s.at(*p).nextF
	}
}

func (s *shard) unlinkRev(rh uint64, ref uint32) {
	p := &s.rev[uint32(rh)&s.mask]
	for *p != 0 {
		if *p == ref {
			*p = s.at(ref).nextR
			return
		}
		p = &s.at(*p).nextR
	}
}

// hashes recomputes an entry's forward and reverse hashes.
func (t *table) hashes(c *conn) (fh, rh uint64) {
	kp := uint16(c.proto)
	if c.flags&fTemplate != 0 {
		kp |= kindTemplate
	}
	ch := t.client(kp, c.caddr, c.cport)
	return t.fwd(ch, c.vaddr, c.vport), t.rev(ch, c.daddr, c.dport)
}

// unlink takes an entry out of both indexes and frees its slot. The caller
// holds s.mu and has done the accounting.
func (t *table) unlink(s *shard, ref uint32, c *conn) {
	fh, rh := t.hashes(c)
	if c.flags&fUnhashed == 0 {
		s.unlinkFwd(fh, ref)
	}
	if c.flags&fRev != 0 {
		s.unlinkRev(rh, ref)
	}
	*c = conn{nextF: s.free}
	s.free = ref
	s.live--
	t.count.Add(-1)
}

// inserted accounts for a new entry and grows the indexes to keep the load
// factor at or under one.
func (t *table) inserted(s *shard) {
	s.live++
	if s.live > s.mask+1 && s.mask < maxShardSlots {
		t.rehash(s, 2*(s.mask+1))
	}
}

func (t *table) rehash(s *shard, n uint32) {
	s.fwd = make([]uint32, n)
	s.rev = make([]uint32, n)
	s.mask = n - 1
	for ref := uint32(1); ref <= s.used; ref++ {
		c := s.at(ref)
		if c.flags&fLive == 0 {
			continue
		}
		fh, rh := t.hashes(c)
		if c.flags&fUnhashed == 0 {
			s.linkFwd(fh, ref, c)
		}
		if c.flags&fRev != 0 {
			s.linkRev(rh, ref, c)
		}
	}
}
