package balancer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Errors that config calls wrap; test with errors.Is.
var (
	ErrNotExist = errors.New("does not exist")
	ErrExist    = errors.New("already exists")
	ErrInvalid  = errors.New("invalid argument")
)

// Defaults for Config.
const (
	DefaultMaxConns = 1 << 20
	DefaultShards   = 64
	// maxIDs bounds service and realserver ids (the per-worker counter arrays).
	maxIDs = 1 << 16
)

// Config configures a Balancer. The zero value is usable.
type Config struct {
	// MaxConns bounds the connection table (connections plus persistence
	// templates); when it is full, new connections are dropped with
	// ReasonTableFull and established ones go on. 0 means DefaultMaxConns.
	MaxConns int
	// Shards is the number of connection-table shards, a power of two up to
	// MaxShards. 0 means DefaultShards.
	Shards int
	// TCP, TCPFin and UDP are the initial timeouts that ipvsadm --set
	// changes (ESTABLISHED, FIN_WAIT, UDP); 0 keeps IPVS's default.
	TCP, TCPFin, UDP time.Duration
	// KeepQuiescentTemplates makes a persistence template to a realserver of
	// weight 0 keep sending that client there, as IPVS does with its default
	// sysctl expire_quiescent_template=0. By default a template is reused
	// only while its realserver is in the service with weight > 0.
	KeepQuiescentTemplates bool
	// Seed seeds the connection hash; 0 picks a random seed.
	Seed uint64
}

// ServiceKey names a virtual service: protocol, IPv4 address and port. Port
// 0 is the catch-all port of a persistent service.
type ServiceKey struct {
	Proto Proto
	Addr  netip.Addr
	Port  uint16
}

// String formats the key as "TCP 198.51.100.1:80".
func (k ServiceKey) String() string {
	return k.Proto.String() + " " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// ServiceConfig is a virtual service's configuration (ipvsadm -A / -E).
type ServiceConfig struct {
	ServiceKey
	// Scheduler is the IPVS scheduler; "" means DefaultScheduler (wlc), as
	// in ipvsadm.
	Scheduler  SchedName
	SchedFlags SchedFlags
	// Persistent is ipvsadm -p; Timeout is its value (0: 360 s, whole
	// seconds, rounded up).
	Persistent bool
	Timeout    time.Duration
	// Netmask (ipvsadm -M) groups clients for persistence; the zero Addr
	// means 255.255.255.255.
	Netmask netip.Addr
	// OnePacket is ipvsadm -o: UDP packets are scheduled one by one and no
	// connection entry is kept.
	OnePacket bool
}

// DestConfig is a realserver's configuration (ipvsadm -a / -e).
type DestConfig struct {
	Addr   netip.Addr
	Port   uint16 // 0: the packet's destination port is kept
	Method Method
	Weight int // 0..MaxWeight; 0 quiesces
}

// Balancer is the IPVS core: virtual services, realservers, connection
// table and counters. All methods are safe for concurrent use.
type Balancer struct {
	t      table
	tcpTO  [tcpNumStates]atomic.Int64
	udpTO  atomic.Int64
	snap   atomic.Pointer[snapshot]
	keepQT bool

	mu      sync.Mutex // writers: config, workers list, baselines
	svcs    map[uint64]*svcState
	svcReg  []*svcState  // by service id
	destReg []*destState // by dest id
	trash   []*destState
	workers []*Worker

	trashN    atomic.Int32
	expired   atomic.Uint64 // entries Expire removed (tablestats.go)
	lastPurge atomic.Int64

	expMu    sync.Mutex
	expShard int
	expBuf   []uint32
}

type svcState struct {
	id       uint32
	key      uint64
	cfg      ServiceConfig
	mask     uint32
	timeout  uint32 // seconds
	sched    Scheduler
	dests    []*destState // insertion order
	deleted  bool
	trashRef int       // trashed dests still pointing here
	retired  Stats     // counters of its purged realservers
	zero     Stats     // baseline of the last Zero
	est      estimator // rates (estimator.go)
}

type destState struct {
	d         *Dest
	id        uint32
	svc       *svcState
	trashed   bool
	zeroMark  bool
	zeroSince int64
	alloc     Stats     // workers' raw counters for the id when it was allocated
	zero      Stats     // workers' raw counters for the id at the last Zero
	est       estimator // rates (estimator.go)
}

// snapshot is the immutable configuration the dataplane reads.
type snapshot struct {
	svcs    map[uint64]*service
	dests   []*Dest  // registry by id, trashed dests included
	destSvc []uint32 // id → owning service id+1; 0 while trashed
	ids     map[*Dest]uint32
}

type service struct {
	id         uint32
	port       uint16
	proto      Proto
	persistent bool
	onePacket  bool
	mask       uint32
	timeout    uint32
	sched      Scheduler
}

func svcKeyOf(p Proto, a [4]byte, port uint16) uint64 {
	return uint64(be32(a))<<24 | uint64(port)<<8 | uint64(p)
}

func (s *snapshot) lookup(p Proto, a [4]byte, port uint16) *service {
	if svc := s.svcs[svcKeyOf(p, a, port)]; svc != nil {
		return svc
	}
	return s.svcs[svcKeyOf(p, a, 0)]
}

// New returns a Balancer with no services.
func New(cfg Config) *Balancer {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Shards <= 0 {
		cfg.Shards = DefaultShards
	}
	if cfg.Shards > MaxShards {
		cfg.Shards = MaxShards
	}
	for cfg.Shards&(cfg.Shards-1) != 0 {
		cfg.Shards &= cfg.Shards - 1 // round down to a power of two
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	b := &Balancer{keepQT: cfg.KeepQuiescentTemplates, svcs: make(map[uint64]*svcState)}
	b.t.init(cfg.Shards, int64(cfg.MaxConns), fmix(seed), fmix(seed+0x9e3779b97f4a7c15), fmix(seed+0x3c6ef372fe94f82a))
	for i, d := range defaultTCPTimeouts {
		b.tcpTO[i].Store(int64(d))
	}
	b.udpTO.Store(int64(defaultUDPTimeout))
	_ = b.SetTimeouts(cfg.TCP, cfg.TCPFin, cfg.UDP)
	b.publishLocked()
	return b
}

// SetTimeouts is ipvsadm --set tcp tcpfin udp: the ESTABLISHED, FIN_WAIT and
// UDP timeouts. A zero argument leaves that timeout unchanged. New values
// apply from each connection's next packet (state transition) on.
func (b *Balancer) SetTimeouts(tcp, tcpfin, udp time.Duration) error {
	if tcp < 0 || tcpfin < 0 || udp < 0 {
		return fmt.Errorf("timeouts %v %v %v: negative timeout: %w", tcp, tcpfin, udp, ErrInvalid)
	}
	if tcp > 0 {
		b.tcpTO[tcpEstablished].Store(int64(tcp))
	}
	if tcpfin > 0 {
		b.tcpTO[tcpFinWait].Store(int64(tcpfin))
	}
	if udp > 0 {
		b.udpTO.Store(int64(udp))
	}
	return nil
}

// Timeouts returns the timeouts ipvsadm -L --timeout prints.
func (b *Balancer) Timeouts() (tcp, tcpfin, udp time.Duration) {
	return time.Duration(b.tcpTO[tcpEstablished].Load()), time.Duration(b.tcpTO[tcpFinWait].Load()),
		time.Duration(b.udpTO.Load())
}

// ---- configuration (writers) ----

func addr4(a netip.Addr) ([4]byte, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return [4]byte{}, false
	}
	return a.As4(), true
}

func normKey(k ServiceKey) (ServiceKey, uint64, error) {
	if k.Proto != TCP && k.Proto != UDP {
		return k, 0, fmt.Errorf("service %s: protocol must be TCP or UDP: %w", k, ErrInvalid)
	}
	a, ok := addr4(k.Addr)
	if !ok {
		return k, 0, fmt.Errorf("service %s: address must be IPv4: %w", k, ErrInvalid)
	}
	k.Addr = netip.AddrFrom4(a)
	return k, svcKeyOf(k.Proto, a, k.Port), nil
}

// normService validates cfg and fills defaults; it returns the scheduler.
func normService(cfg ServiceConfig) (ServiceConfig, uint64, uint32, Scheduler, error) {
	k, key, err := normKey(cfg.ServiceKey)
	if err != nil {
		return cfg, 0, 0, nil, err
	}
	cfg.ServiceKey = k
	if cfg.Port == 0 && !cfg.Persistent {
		return cfg, 0, 0, nil, fmt.Errorf("service %s: port zero is only supported for persistent services: %w", k, ErrInvalid)
	}
	if cfg.Scheduler == "" {
		cfg.Scheduler = DefaultScheduler
	}
	if cfg.Timeout < 0 {
		return cfg, 0, 0, nil, fmt.Errorf("service %s: negative persistence timeout %v: %w", k, cfg.Timeout, ErrInvalid)
	}
	if !cfg.Persistent {
		cfg.Timeout = 0
	} else if cfg.Timeout == 0 {
		cfg.Timeout = defaultPersistTimeout
	}
	cfg.Timeout = (cfg.Timeout + time.Second - 1).Truncate(time.Second)
	if cfg.Timeout > time.Duration(1<<31-1)*time.Second {
		return cfg, 0, 0, nil, fmt.Errorf("service %s: persistence timeout %v too large: %w", k, cfg.Timeout, ErrInvalid)
	}
	var mask uint32 = 0xffffffff
	if cfg.Netmask.IsValid() {
		m, ok := addr4(cfg.Netmask)
		if !ok {
			return cfg, 0, 0, nil, fmt.Errorf("service %s: netmask %s is not IPv4: %w", k, cfg.Netmask, ErrInvalid)
		}
		mask = be32(m)
		if ^mask&(^mask+1) != 0 { // not of the form 1…10…0
			return cfg, 0, 0, nil, fmt.Errorf("service %s: netmask %s is not contiguous: %w", k, cfg.Netmask, ErrInvalid)
		}
	}
	var m4 [4]byte
	m4[0], m4[1], m4[2], m4[3] = byte(mask>>24), byte(mask>>16), byte(mask>>8), byte(mask)
	cfg.Netmask = netip.AddrFrom4(m4)
	if cfg.OnePacket && cfg.Proto != UDP {
		cfg.OnePacket = false // IPVS applies one-packet scheduling to UDP only
	}
	sched, err := NewSchedulerFlags(cfg.Scheduler, cfg.SchedFlags)
	if err != nil {
		return cfg, 0, 0, nil, fmt.Errorf("service %s: %w", k, err)
	}
	return cfg, key, mask, sched, nil
}

// AddService adds a virtual service (ipvsadm -A).
func (b *Balancer) AddService(cfg ServiceConfig) error {
	cfg, key, mask, sched, err := normService(cfg)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.svcs[key] != nil {
		return fmt.Errorf("service %s %w", cfg.ServiceKey, ErrExist)
	}
	id, ok := freeID(b.svcReg)
	if !ok {
		return fmt.Errorf("service %s: too many services: %w", cfg.ServiceKey, ErrInvalid)
	}
	sv := &svcState{id: id, key: key, cfg: cfg, mask: mask, timeout: uint32(cfg.Timeout / time.Second), sched: sched}
	sched.Update(nil)
	b.svcReg = setID(b.svcReg, id, sv)
	b.svcs[key] = sv
	b.publishLocked()
	return nil
}

// EditService changes a virtual service (ipvsadm -E): every field of cfg
// replaces the old one. Changing the scheduler starts a fresh instance.
func (b *Balancer) EditService(cfg ServiceConfig) error {
	cfg, key, mask, sched, err := normService(cfg)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	sv := b.svcs[key]
	if sv == nil {
		return fmt.Errorf("service %s %w", cfg.ServiceKey, ErrNotExist)
	}
	if cfg.Scheduler != sv.cfg.Scheduler || cfg.SchedFlags != sv.cfg.SchedFlags {
		sched.Update(kernelOrder(sv.dests))
		sv.sched = sched
	}
	sv.cfg, sv.mask, sv.timeout = cfg, mask, uint32(cfg.Timeout/time.Second)
	b.publishLocked()
	return nil
}

// DelService deletes a virtual service (ipvsadm -D). Its connections keep
// working until they expire.
func (b *Balancer) DelService(k ServiceKey) error {
	k, key, err := normKey(k)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	sv := b.svcs[key]
	if sv == nil {
		return fmt.Errorf("service %s %w", k, ErrNotExist)
	}
	b.delServiceLocked(sv)
	b.publishLocked()
	return nil
}

func (b *Balancer) delServiceLocked(sv *svcState) {
	delete(b.svcs, sv.key)
	sv.deleted = true
	for _, ds := range sv.dests {
		b.trashLocked(ds)
	}
	sv.dests = nil
	sv.sched.Update(nil)
	if sv.trashRef == 0 {
		b.svcReg[sv.id] = nil
	}
}

// Clear deletes every virtual service (ipvsadm -C). Connections keep working
// until they expire.
func (b *Balancer) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sv := range b.svcs {
		b.delServiceLocked(sv)
	}
	b.publishLocked()
}

func (b *Balancer) serviceLocked(k ServiceKey) (*svcState, ServiceKey, error) {
	k, key, err := normKey(k)
	if err != nil {
		return nil, k, err
	}
	sv := b.svcs[key]
	if sv == nil {
		return nil, k, fmt.Errorf("service %s %w", k, ErrNotExist)
	}
	return sv, k, nil
}

func normDest(k ServiceKey, dc DestConfig) (DestConfig, error) {
	a, ok := addr4(dc.Addr)
	if !ok {
		return dc, fmt.Errorf("realserver %s: address must be IPv4: %w", dc.Addr, ErrInvalid)
	}
	dc.Addr = netip.AddrFrom4(a)
	ap := netip.AddrPortFrom(dc.Addr, dc.Port)
	if dc.Weight < 0 || dc.Weight > MaxWeight {
		return dc, fmt.Errorf("realserver %s in service %s: weight %d out of range 0..%d: %w", ap, k, dc.Weight, MaxWeight, ErrInvalid)
	}
	if dc.Method > MethodLocal {
		return dc, fmt.Errorf("realserver %s in service %s: unknown forwarding method %d: %w", ap, k, dc.Method, ErrInvalid)
	}
	return dc, nil
}

func (sv *svcState) find(a netip.Addr, port uint16) int {
	for i, ds := range sv.dests {
		if ds.d.Addr == a && ds.d.Port == port {
			return i
		}
	}
	return -1
}

// destConfigLocked finds service k and checks dc for it.
func (b *Balancer) destConfigLocked(k ServiceKey, dc DestConfig) (*svcState, ServiceKey, DestConfig, error) {
	sv, k, err := b.serviceLocked(k)
	if err != nil {
		return nil, k, dc, err
	}
	dc, err = normDest(k, dc)
	return sv, k, dc, err
}

// newDestLocked registers a new realserver of sv under a free id.
func (b *Balancer) newDestLocked(sv *svcState, k ServiceKey, dc DestConfig) (*destState, error) {
	id, ok := freeID(b.destReg)
	if !ok {
		return nil, fmt.Errorf("realserver %s in service %s: too many realservers: %w", netip.AddrPortFrom(dc.Addr, dc.Port), k, ErrInvalid)
	}
	raw := b.rawLocked(id)
	ds := &destState{d: NewDest(dc.Addr, dc.Port, dc.Method, dc.Weight), id: id, svc: sv, alloc: raw, zero: raw}
	b.destReg = setID(b.destReg, id, ds)
	return ds, nil
}

// AddDest adds a realserver to a service (ipvsadm -a). A realserver deleted
// from the same service moments ago, with connections still alive, comes
// back with its counters (IPVS's dest trash).
func (b *Balancer) AddDest(k ServiceKey, dc DestConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	sv, k, dc, err := b.destConfigLocked(k, dc)
	if err != nil {
		return err
	}
	if sv.find(dc.Addr, dc.Port) >= 0 {
		return fmt.Errorf("realserver %s %w in service %s", netip.AddrPortFrom(dc.Addr, dc.Port), ErrExist, k)
	}
	var ds *destState
	for i, t := range b.trash {
		if t.svc == sv && t.d.Addr == dc.Addr && t.d.Port == dc.Port && t.d.Method == dc.Method {
			ds = t
			b.trash = slices.Delete(b.trash, i, i+1)
			b.trashN.Add(-1)
			ds.trashed, ds.zeroMark = false, false
			sv.trashRef--
			break
		}
	}
	if ds == nil {
		if ds, err = b.newDestLocked(sv, k, dc); err != nil {
			return err
		}
	}
	ds.d.SetWeight(dc.Weight)
	sv.dests = append(sv.dests, ds)
	b.publishLocked()
	sv.sched.Update(kernelOrder(sv.dests))
	return nil
}

// EditDest changes a realserver's weight or method (ipvsadm -e). A new
// method applies to new connections; existing ones keep theirs.
func (b *Balancer) EditDest(k ServiceKey, dc DestConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	sv, k, dc, err := b.destConfigLocked(k, dc)
	if err != nil {
		return err
	}
	i := sv.find(dc.Addr, dc.Port)
	if i < 0 {
		return fmt.Errorf("realserver %s %w in service %s", netip.AddrPortFrom(dc.Addr, dc.Port), ErrNotExist, k)
	}
	old := sv.dests[i]
	if old.d.Method != dc.Method {
		// A Dest's method is fixed for its life: replace it, carrying the
		// counters over, and let the old one serve its connections from the
		// trash.
		ds, err := b.newDestLocked(sv, k, dc)
		if err != nil {
			return err
		}
		ds.zero.sub(b.destStatsLocked(old))
		sv.dests[i] = ds
		b.trashLocked(old)
	} else {
		old.d.SetWeight(dc.Weight)
	}
	b.publishLocked()
	sv.sched.Update(kernelOrder(sv.dests))
	return nil
}

// DelDest removes a realserver from a service (ipvsadm -d). Its
// connections keep working until they expire.
func (b *Balancer) DelDest(k ServiceKey, addr netip.Addr, port uint16) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	sv, k, err := b.serviceLocked(k)
	if err != nil {
		return err
	}
	a, _ := addr4(addr)
	addr = netip.AddrFrom4(a)
	i := sv.find(addr, port)
	if i < 0 {
		return fmt.Errorf("realserver %s %w in service %s", netip.AddrPortFrom(addr, port), ErrNotExist, k)
	}
	ds := sv.dests[i]
	sv.dests = slices.Delete(sv.dests, i, i+1)
	b.trashLocked(ds)
	b.publishLocked()
	sv.sched.Update(kernelOrder(sv.dests))
	return nil
}

func (b *Balancer) trashLocked(ds *destState) {
	ds.trashed, ds.zeroMark = true, false
	ds.svc.trashRef++
	b.trash = append(b.trash, ds)
	b.trashN.Add(1)
}

// purgeLocked frees trashed realservers that have had no connection and no
// template for at least a second (a grace period for workers still
// scheduling from an older snapshot), and deleted services whose
// realservers are all gone.
func (b *Balancer) purgeLocked(now int64) {
	changed := false
	keep := b.trash[:0]
	for _, ds := range b.trash {
		d := ds.d
		if d.active.Load()|d.inactive.Load()|d.persist.Load() != 0 {
			ds.zeroMark = false
			keep = append(keep, ds)
			continue
		}
		if !ds.zeroMark {
			ds.zeroMark, ds.zeroSince = true, now
			keep = append(keep, ds)
			continue
		}
		if now-ds.zeroSince < int64(time.Second) {
			keep = append(keep, ds)
			continue
		}
		b.destReg[ds.id] = nil
		b.trashN.Add(-1)
		sv := ds.svc
		raw := b.rawLocked(ds.id)
		raw.sub(ds.alloc)
		sv.retired.add(raw)
		sv.trashRef--
		if sv.deleted && sv.trashRef == 0 && b.svcReg[sv.id] == sv {
			b.svcReg[sv.id] = nil
		}
		changed = true
	}
	clear(b.trash[len(keep):])
	b.trash = keep
	if changed {
		b.publishLocked()
	}
}

// kernelOrder is the realserver list as the kernel walks it: ipvsadm -a
// inserts at the head of svc->destinations.
func kernelOrder(ds []*destState) []*Dest {
	out := make([]*Dest, len(ds))
	for i, d := range ds {
		out[len(ds)-1-i] = d.d
	}
	return out
}

func freeID[T comparable](reg []T) (uint32, bool) {
	var zero T
	for i, v := range reg {
		if v == zero {
			return uint32(i), true
		}
	}
	if len(reg) >= maxIDs {
		return 0, false
	}
	return uint32(len(reg)), true
}

func setID[T any](reg []T, id uint32, v T) []T {
	for int(id) >= len(reg) {
		var zero T
		reg = append(reg, zero)
	}
	reg[id] = v
	return reg
}

func (b *Balancer) publishLocked() {
	s := &snapshot{
		svcs:    make(map[uint64]*service, len(b.svcs)),
		dests:   make([]*Dest, len(b.destReg)),
		destSvc: make([]uint32, len(b.destReg)),
		ids:     make(map[*Dest]uint32, len(b.destReg)),
	}
	for id, ds := range b.destReg {
		if ds == nil {
			continue
		}
		s.dests[id] = ds.d
		s.ids[ds.d] = uint32(id)
		if !ds.trashed {
			s.destSvc[id] = ds.svc.id + 1
		}
	}
	for key, sv := range b.svcs {
		s.svcs[key] = &service{
			id: sv.id, port: sv.cfg.Port, proto: sv.cfg.Proto, persistent: sv.cfg.Persistent,
			onePacket: sv.cfg.OnePacket, mask: sv.mask, timeout: sv.timeout, sched: sv.sched,
		}
	}
	b.snap.Store(s)
}

// destByID returns the realserver with the id, from the snapshot or, for a
// realserver newer than it, from the latest one.
func (b *Balancer) destByID(s *snapshot, id uint32) *Dest {
	if int(id) < len(s.dests) && s.dests[id] != nil {
		return s.dests[id]
	}
	s = b.snap.Load()
	if int(id) < len(s.dests) {
		return s.dests[id]
	}
	return nil
}

// idOf returns a scheduled realserver's id.
func (b *Balancer) idOf(s *snapshot, d *Dest) (uint32, bool) {
	if id, ok := s.ids[d]; ok {
		return id, true
	}
	id, ok := b.snap.Load().ids[d]
	return id, ok
}
