package balancer

import "sync/atomic"

// Verdict is the balancer's decision for one packet. It holds no pointer.
//
// For In and Related(out=false): Forward means send the packet to
// DestAddr:DestPort with Method (for Masq, rewrite the destination to it).
// For Out and Related(out=true): Forward means rewrite the source from
// DestAddr:DestPort (the realserver) to VIP:VPort.
type Verdict struct {
	Action    Action
	Reason    Reason
	Method    Method
	DestAddr  [4]byte
	DestPort  uint16
	VIP       [4]byte
	VPort     uint16
	DestID    uint32
	ServiceID uint32
}

// Stats are IPVS's per-service and per-realserver counters.
type Stats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

func (s *Stats) add(o Stats) {
	s.Conns += o.Conns
	s.InPkts += o.InPkts
	s.OutPkts += o.OutPkts
	s.InBytes += o.InBytes
	s.OutBytes += o.OutBytes
}

func (s *Stats) sub(o Stats) {
	s.Conns -= o.Conns
	s.InPkts -= o.InPkts
	s.OutPkts -= o.OutPkts
	s.InBytes -= o.InBytes
	s.OutBytes -= o.OutBytes
}

// counters are one worker's counters for one id. Only the worker writes
// them; atomics let Services read them while it does.
type counters struct {
	conns, inpkts, outpkts, inbytes, outbytes atomic.Uint64
}

const statPageBits = 6

type statPage [1 << statPageBits]counters

// statTable maps an id to its counters: pages are allocated on first use
// and never move.
type statTable struct {
	pages [maxIDs >> statPageBits]atomic.Pointer[statPage]
}

func (st *statTable) cell(id uint32) *counters {
	pg := &st.pages[(id>>statPageBits)&(maxIDs>>statPageBits-1)]
	p := pg.Load()
	if p == nil {
		p = new(statPage)
		pg.Store(p)
	}
	return &p[id&(1<<statPageBits-1)]
}

func (st *statTable) read(id uint32) Stats {
	if id >= maxIDs {
		return Stats{}
	}
	p := st.pages[id>>statPageBits].Load()
	if p == nil {
		return Stats{}
	}
	c := &p[id&(1<<statPageBits-1)]
	return Stats{c.conns.Load(), c.inpkts.Load(), c.outpkts.Load(), c.inbytes.Load(), c.outbytes.Load()}
}

// Worker is one dataplane goroutine's handle on the Balancer. Its methods
// must be called from one goroutine at a time; use one Worker per
// goroutine. In, Out and Related do not allocate once the worker has
// touched every service and realserver id (first use allocates a counter
// page) and the connection table has grown to its working size.
type Worker struct {
	b       *Balancer
	dest    *statTable
	pending pendingTable // packet and byte sums not yet published (pending.go)
}

// NewWorker returns a new dataplane handle.
func (b *Balancer) NewWorker() *Worker {
	w := &Worker{b: b, dest: new(statTable), pending: pendingTable{dirty: make([]uint32, 0, 64)}}
	b.mu.Lock()
	b.workers = append(b.workers, w)
	b.mu.Unlock()
	return w
}

// not is the verdict for a packet In, Out or Related does not forward.
// The caller counts it by r (the dataplane's counters): r is why.
func (w *Worker) not(a Action, r Reason) Verdict {
	return Verdict{Action: a, Reason: r}
}

// countIn counts a client→realserver packet. Workers count per realserver
// only; a service's counters are the sum of its realservers'.
func (w *Worker) countIn(v *Verdict, size int, newConn bool) {
	if newConn {
		w.dest.cell(v.DestID).conns.Add(1)
	}
	c := w.pending.cell(v.DestID)
	c.inpkts++
	c.inbytes += uint64(size)
}

func (w *Worker) countOut(v *Verdict, size int) {
	c := w.pending.cell(v.DestID)
	c.outpkts++
	c.outbytes += uint64(size)
}

func verdictOf(c *conn) Verdict {
	return Verdict{
		Action: Forward, Method: c.method,
		DestAddr: c.daddr, DestPort: c.dport, VIP: c.vaddr, VPort: c.vport,
		DestID: c.dest, ServiceID: c.svc,
	}
}

// transition is ip_vs_set_state for one packet in direction dir: the TCP
// state machine (set_tcp_state) or UDP's single state, the activeconns /
// inactconns move, and the new timeout from now. The caller holds the
// connection's shard lock.
func (b *Balancer) transition(c *conn, dir int, flags uint8, now int64) {
	if c.proto != uint8(TCP) {
		c.expires = now + b.udpTO.Load()
		return
	}
	if c.flags&fNoOutput != 0 {
		if dir == dirOutput {
			c.flags &^= fNoOutput
		} else {
			dir = dirInputOnly
		}
	}
	ns := nextTCPState(c.state, dir, flags)
	if ns != c.state {
		inactive := c.flags&fInactive != 0
		if !inactive && ns != tcpEstablished {
			if d := b.destByID(b.snap.Load(), c.dest); d != nil {
				d.active.Add(-1)
				d.inactive.Add(1)
			}
			c.flags |= fInactive
		} else if inactive && ns == tcpEstablished {
			if d := b.destByID(b.snap.Load(), c.dest); d != nil {
				d.active.Add(1)
				d.inactive.Add(-1)
			}
			c.flags &^= fInactive
		}
		c.state = ns
	}
	c.expires = now + b.tcpTO[ns].Load()
}

// In decides a client→VIP packet: f is its tuple, tcpFlags byte 13 of the
// TCP header (ignored for UDP), size the byte count for the counters, now
// the time in nanoseconds of a monotonic clock (the same clock for every
// call on this Balancer).
//
// An existing connection is forwarded to its realserver and moves through
// the TCP state machine. Otherwise the packet's virtual service is looked
// up: none gives Pass/ReasonNoService; a TCP segment without SYN (or with
// RST) is dropped (ReasonNotSYN); otherwise a realserver is chosen through
// the persistence template or the scheduler and a connection is created.
func (w *Worker) In(f *Flow, tcpFlags uint8, size int, now int64) Verdict {
	b := w.b
	t := &b.t
	ch := t.client(uint16(f.Proto), f.Src, f.SrcPort)
	fh := t.fwd(ch, f.Dst, f.DstPort)
	s := t.shardFor(ch)
	s.mu.Lock()
	if ref := s.findFwd(fh, uint8(f.Proto), 0, f.Src, f.SrcPort, f.Dst, f.DstPort); ref != 0 {
		c := s.at(ref)
		if f.Proto == TCP && tcpFlags&(TCPFlagSYN|TCPFlagRST) == TCPFlagSYN && c.ctl == 0 &&
			(c.state == tcpTimeWait || c.state == tcpClose) {
			// conn_reuse_mode 1: a new SYN on a closed connection is a
			// new connection and is scheduled afresh.
			b.expireLocked(s, ref, c)
		} else {
			b.transition(c, dirInput, tcpFlags, now)
			v := verdictOf(c)
			s.mu.Unlock()
			w.countIn(&v, size, false)
			return v
		}
	}
	s.mu.Unlock()
	return w.newConn(f, tcpFlags, size, now, fh, s)
}

// newConn is ip_vs_schedule: the packet has no connection yet.
func (w *Worker) newConn(f *Flow, tcpFlags uint8, size int, now int64, fh uint64, s *shard) Verdict {
	b := w.b
	snap := b.snap.Load()
	svc := snap.lookup(f.Proto, f.Dst, f.DstPort)
	if svc == nil {
		return w.not(Pass, ReasonNoService)
	}
	if f.Proto == TCP && tcpFlags&(TCPFlagSYN|TCPFlagRST) != TCPFlagSYN {
		return w.not(Drop, ReasonNotSYN)
	}
	var (
		d    *Dest
		did  uint32
		tmpl uint32
	)
	if svc.persistent {
		var r Reason
		d, did, tmpl, r = w.schedPersist(snap, svc, f, now)
		if r != ReasonNone {
			return w.not(Drop, r)
		}
	} else {
		d = svc.sched.Schedule(f)
		if d == nil {
			return w.not(Drop, ReasonNoDest)
		}
		var ok bool
		if did, ok = b.idOf(snap, d); !ok {
			return w.not(Drop, ReasonNoDest)
		}
	}
	dport := f.DstPort
	if d.Port != 0 && dport == svc.port {
		dport = d.Port
	}
	v := Verdict{
		Action: Forward, Method: d.Method, DestAddr: d.Addr.As4(), DestPort: dport,
		VIP: f.Dst, VPort: f.DstPort, DestID: did, ServiceID: svc.id,
	}
	if svc.onePacket {
		// IP_VS_CONN_F_ONE_PACKET: the connection dies with its packet.
		w.countIn(&v, size, true)
		return v
	}
	t := &b.t
	if t.count.Add(1) > t.max {
		t.count.Add(-1)
		b.releaseTemplate(tmpl)
		return w.not(Drop, ReasonTableFull)
	}
	s.mu.Lock()
	if ref := s.findFwd(fh, uint8(f.Proto), 0, f.Src, f.SrcPort, f.Dst, f.DstPort); ref != 0 {
		// Another worker created it meanwhile: use theirs.
		t.count.Add(-1)
		c := s.at(ref)
		b.transition(c, dirInput, tcpFlags, now)
		v = verdictOf(c)
		s.mu.Unlock()
		b.releaseTemplate(tmpl)
		w.countIn(&v, size, false)
		return v
	}
	ref, ok := s.alloc()
	if !ok {
		s.mu.Unlock()
		t.count.Add(-1)
		b.releaseTemplate(tmpl)
		return w.not(Drop, ReasonTableFull)
	}
	c := s.at(ref)
	*c = conn{
		caddr: f.Src, vaddr: f.Dst, daddr: v.DestAddr,
		cport: f.SrcPort, vport: f.DstPort, dport: dport,
		proto: uint8(f.Proto), state: tcpNone, flags: fLive | fInactive, method: d.Method,
		dest: did, svc: svc.id, ctl: tmpl,
	}
	s.linkFwd(fh, ref, c)
	if d.Method == MethodMasq {
		s.linkRev(t.rev(t.client(uint16(f.Proto), f.Src, f.SrcPort), v.DestAddr, dport), ref, c)
	} else {
		c.flags |= fNoOutput
	}
	t.inserted(s)
	d.inactive.Add(1) // ip_vs_bind_dest: a new connection starts inactive
	b.transition(c, dirInput, tcpFlags, now)
	s.mu.Unlock()
	w.countIn(&v, size, true)
	return v
}

// schedPersist is ip_vs_sched_persist: find the client network's template
// for the service, check that its realserver is still available, or
// schedule and create one. It returns the realserver and the template's
// handle, whose n_control it has raised (unless one-packet).
func (w *Worker) schedPersist(snap *snapshot, svc *service, f *Flow, now int64) (*Dest, uint32, uint32, Reason) {
	b := w.b
	t := &b.t
	m := be32(f.Src) & svc.mask
	snet := [4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
	ch := t.client(uint16(f.Proto)|kindTemplate, snet, 0)
	fh := t.fwd(ch, f.Dst, svc.port)
	si := t.shardIndex(ch)
	s := &t.shards[si].shard
	s.mu.Lock()
	ref := s.findFwd(fh, uint8(f.Proto), fTemplate, snet, 0, f.Dst, svc.port)
	var d *Dest
	var did uint32
	if ref != 0 {
		c := s.at(ref)
		did = c.dest
		d = b.destByID(snap, did)
		if d == nil || !b.templateValid(snap, svc, did, d) {
			// ip_vs_check_template: invalidate; the old template stays
			// (and counts in persistconns) until it expires.
			s.unlinkFwd(fh, ref)
			c.flags |= fUnhashed
			ref = 0
		}
	}
	var c *conn
	if ref == 0 {
		d = svc.sched.Schedule(f)
		if d == nil {
			s.mu.Unlock()
			return nil, 0, 0, ReasonNoDest
		}
		var ok bool
		if did, ok = b.idOf(snap, d); !ok {
			s.mu.Unlock()
			return nil, 0, 0, ReasonNoDest
		}
		if t.count.Add(1) > t.max {
			t.count.Add(-1)
			s.mu.Unlock()
			return nil, 0, 0, ReasonTableFull
		}
		if ref, ok = s.alloc(); !ok {
			t.count.Add(-1)
			s.mu.Unlock()
			return nil, 0, 0, ReasonTableFull
		}
		var dport uint16
		if svc.port != 0 {
			dport = d.Port
		}
		c = s.at(ref)
		*c = conn{
			caddr: snet, vaddr: f.Dst, daddr: d.Addr.As4(), vport: svc.port, dport: dport,
			proto: uint8(f.Proto), flags: fLive | fTemplate, method: d.Method,
			dest: did, svc: svc.id, timeout: svc.timeout,
		}
		s.linkFwd(fh, ref, c)
		t.inserted(s)
		d.persist.Add(1)
	} else {
		c = s.at(ref)
	}
	c.expires = now + int64(c.timeout)*1e9
	var h uint32
	if !svc.onePacket {
		c.ctl++
		h = si<<24 | ref
	}
	s.mu.Unlock()
	return d, did, h, ReasonNone
}

// templateValid is ip_vs_check_template: the realserver is still in the
// service and, unless KeepQuiescentTemplates, has a weight.
func (b *Balancer) templateValid(snap *snapshot, svc *service, did uint32, d *Dest) bool {
	cur := b.snap.Load()
	if int(did) >= len(cur.destSvc) || cur.destSvc[did] != svc.id+1 {
		return false
	}
	return b.keepQT || d.Weight() > 0
}

// releaseTemplate is ip_vs_control_del: one connection fewer under the
// template with handle h (0: none).
func (b *Balancer) releaseTemplate(h uint32) {
	if h == 0 {
		return
	}
	s := &b.t.shards[h>>24].shard
	s.mu.Lock()
	if c := s.at(h & (1<<24 - 1)); c.ctl > 0 {
		c.ctl--
	}
	s.mu.Unlock()
}

// expireLocked removes an entry that does not control others (ip_vs_conn_expire
// and ip_vs_unbind_dest) and returns the handle of its template, which the
// caller must release after dropping s.mu.
func (b *Balancer) expireLocked(s *shard, ref uint32, c *conn) uint32 {
	if d := b.destByID(b.snap.Load(), c.dest); d != nil {
		switch {
		case c.flags&fTemplate != 0:
			d.persist.Add(-1)
		case c.flags&fInactive != 0:
			d.inactive.Add(-1)
		default:
			d.active.Add(-1)
		}
	}
	var h uint32
	if c.flags&fTemplate == 0 {
		h = c.ctl
	}
	b.t.unlink(s, ref, c)
	return h
}

// In and Out open the same way (hash, shard, lock, find) because they
// mirror IPVS's ip_vs_in and ip_vs_out: the forward and reverse keys of a
// connection share a shard, and each direction has its own lookup.
//
// Out decides a realserver→client packet of a masq connection: f is its
// tuple (Src is the realserver). Forward carries the VIP:VPort to write as
// the new source. A packet of no masq connection gets Pass/ReasonNoConn.
func (w *Worker) Out(f *Flow, tcpFlags uint8, size int, now int64) Verdict {
	b := w.b
	t := &b.t
	ch := t.client(uint16(f.Proto), f.Dst, f.DstPort)
	rh := t.rev(ch, f.Src, f.SrcPort)
	s := t.shardFor(ch)
	s.mu.Lock()
	ref := s.findRev(rh, uint8(f.Proto), f.Src, f.SrcPort, f.Dst, f.DstPort)
	if ref == 0 {
		s.mu.Unlock()
		return w.not(Pass, ReasonNoConn)
	}
	c := s.at(ref)
	b.transition(c, dirOutput, tcpFlags, now)
	v := verdictOf(c)
	s.mu.Unlock()
	w.countOut(&v, size)
	return v
}

// Related decides an ICMP error about one of the balancer's connections. f
// is the tuple of the packet quoted inside the ICMP message, as it was sent.
// With out false the error came from the client side about a packet sent to
// the client (f.Src is the VIP, f.Dst the client): Forward sends it to the
// realserver like In. With out true it came from the realserver side about
// a packet the balancer sent to a masq realserver (f.Src is the client,
// f.Dst the realserver): Forward carries the VIP:VPort for the rewrite like
// Out. Related changes no connection state.
func (w *Worker) Related(f *Flow, out bool) Verdict {
	t := &w.b.t
	var ref uint32
	var s *shard
	if !out {
		ch := t.client(uint16(f.Proto), f.Dst, f.DstPort)
		s = t.shardFor(ch)
		s.mu.Lock()
		ref = s.findFwd(t.fwd(ch, f.Src, f.SrcPort), uint8(f.Proto), 0, f.Dst, f.DstPort, f.Src, f.SrcPort)
	} else {
		ch := t.client(uint16(f.Proto), f.Src, f.SrcPort)
		s = t.shardFor(ch)
		s.mu.Lock()
		ref = s.findRev(t.rev(ch, f.Dst, f.DstPort), uint8(f.Proto), f.Dst, f.DstPort, f.Src, f.SrcPort)
	}
	if ref == 0 {
		s.mu.Unlock()
		return w.not(Pass, ReasonNoConn)
	}
	v := verdictOf(s.at(ref))
	s.mu.Unlock()
	return v
}

// Expire runs the balancer's expiry on this worker's behalf (see
// (*Balancer).Expire).
func (w *Worker) Expire(now int64, budget int) int { return w.b.Expire(now, budget) }

// Expire removes connections and templates whose time has come, examining at
// most budget table slots from where the previous call stopped; call it
// often with a small budget (a worker between batches, or a ticker). A
// template lives on while it controls connections. It returns the number of
// entries removed, or 0 at once if another Expire is running. It also frees
// deleted realservers that no connection refers to any more.
func (b *Balancer) Expire(now int64, budget int) int {
	if !b.expMu.TryLock() {
		return 0
	}
	defer b.expMu.Unlock()
	t := &b.t
	n := len(t.shards)
	expired, wraps := 0, 0
	for budget > 0 && wraps <= n {
		s := &t.shards[b.expShard].shard
		s.mu.Lock()
		end := s.sweep + uint32(min(budget, 256))
		if end > s.used {
			end = s.used
		}
		for i := s.sweep; i < end; i++ {
			ref := i + 1
			c := s.at(ref)
			if c.flags&fLive == 0 || c.expires > now {
				continue
			}
			if c.flags&fTemplate != 0 && c.ctl > 0 {
				c.expires = now + int64(c.timeout)*1e9 // expire_later
				continue
			}
			if h := b.expireLocked(s, ref, c); h != 0 {
				b.expBuf = append(b.expBuf, h)
			}
			expired++
		}
		budget -= max(int(end-s.sweep), 1)
		s.sweep = end
		if s.sweep >= s.used {
			s.sweep = 0
			b.expShard = (b.expShard + 1) & (n - 1)
			wraps++
		}
		s.mu.Unlock()
		for _, h := range b.expBuf {
			b.releaseTemplate(h)
		}
		b.expBuf = b.expBuf[:0]
	}
	if b.trashN.Load() > 0 && now-b.lastPurge.Load() >= int64(1e9)/4 && b.mu.TryLock() {
		b.lastPurge.Store(now)
		b.purgeLocked(now)
		b.mu.Unlock()
	}
	b.expired.Add(uint64(expired))
	return expired
}
