package director

import (
	"sync"
	"time"

	"github.com/govs-lb/govs/arp"
	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/xdpshed"
)

// rxSource is the receive side of the I/O boundary: an AF_PACKET ring in
// production, a slice of frames in tests.
type rxSource interface {
	Recv(b *afpacket.Batch, timeout time.Duration) (int, error)
	Release()
}

// txSink is the transmit side: an AF_PACKET socket per egress interface.
type txSink interface {
	SendBatch(frames [][]byte, hdrs []afpacket.VnetHdr) (int, error)
}

// port is an interface govs forwards on, as a worker sees it.
type port struct {
	ifindex int
	mac     [6]byte
	mtu     int
}

// txq is one worker's pending output on one interface. Frames point into
// the receive ring or the worker's arena; they are sent before the ring
// block is released.
type txq struct {
	sink   txSink
	frames [][]byte
	hdrs   []afpacket.VnetHdr
}

// Drop and event reasons a worker counts.
const (
	cntRx = iota
	cntTx
	cntParseErr
	cntBadIPCsum
	cntNotOurs
	cntNoService
	cntNoDest
	cntTableFull
	cntNotSYN
	cntNoNeigh
	cntNoEgress
	cntTxFull
	cntFragNeeded
	cntFragUnknown
	cntARPReply
	cntEchoReply
	cntTruncated
	cntSegmentErr
	cntUnknownProto
	cntLocalUnsupported
	cntMax
)

var counterNames = [cntMax]string{
	"rx", "tx", "parse_error", "bad_ip_checksum", "not_ours", "no_service", "no_dest",
	"table_full", "not_syn", "no_neighbour", "no_egress", "tx_full", "frag_needed_sent",
	"fragment_unknown", "arp_reply", "echo_reply", "truncated", "segment_error",
	"unknown_protocol", "local_unsupported",
}

// arenaSize bounds the bytes a worker builds per batch (ARP replies, ICMP
// errors, TCP segments for tunnels).
const arenaSize = 512 << 10

// worker is one dataplane goroutine: one receive ring, its own balancer
// handle and counters, and a transmit queue per interface. Nothing in it is
// shared, so the per-packet path takes no lock and allocates nothing.
type worker struct {
	d     *Director
	rx    rxSource
	ports []port
	txqs  []txq
	tapq  txq // frames for the host stack through the tap (LocalNode, local.go)
	bw    *balancer.Worker
	frags *fragTable

	batch *afpacket.Batch
	pkt   forward.Packet
	flow  balancer.Flow
	now   int64
	ipid  uint16
	arena []byte
	used  int

	// backlog reports how many ring blocks wait (afpacket.Socket.Backlog;
	// nil in tests), and valve turns that into XDP load shedding.
	backlog  interface{ Backlog(limit int) int }
	valve    xdpshed.Valve
	shedding bool

	segScratch []byte // one TCP segment at a time, for tunnels
	seg        segState
	emitSeg    func([]byte) // w.emitSegment, bound once

	counters [cntMax]uint64 // written by this worker only
	batchMax int64          // longest batch (ns) since the last publish

	// published is a copy of counters for readers, refreshed at most every
	// publishEvery so that the per-packet path never synchronises.
	pubMu     sync.Mutex
	published [cntMax]uint64
	pubShed   bool
	pubAt     int64
	// pubBatchMax is the longest batch (ns) published since the last
	// takeBatchMax: a maximum over publishes, reset by its reader.
	pubBatchMax int64
}

const publishEvery = int64(100 * time.Millisecond)

// publish copies the counters for readers when they are old enough.
func (w *worker) publish(force bool) {
	if !force && w.now-w.pubAt < publishEvery {
		return
	}
	w.pubAt = w.now
	w.pubMu.Lock()
	w.published = w.counters
	w.pubShed = w.shedding
	w.pubBatchMax = max(w.pubBatchMax, w.batchMax)
	w.pubMu.Unlock()
	w.batchMax = 0
}

// endBatch records the time one batch took, from Recv's return (w.now) to
// end, after its frames were sent and its ring block released.
func (w *worker) endBatch(end int64) {
	if d := end - w.now; d > w.batchMax {
		w.batchMax = d
	}
}

// takeBatchMax returns the longest batch (ns) published since the previous
// call, and starts a new maximum: each metrics scrape sees the worst batch
// since the scrape before (batches of the last publishEvery may not be
// published yet and count towards the next one).
func (w *worker) takeBatchMax() int64 {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	v := w.pubBatchMax
	w.pubBatchMax = 0
	return v
}

// snapshotCounters returns the last published counters.
func (w *worker) snapshotCounters() [cntMax]uint64 {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	return w.published
}

// snapshotShedding returns whether the worker was shedding when it last
// published.
func (w *worker) snapshotShedding() bool {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	return w.pubShed
}

func newWorker(d *Director, rx rxSource, ports []port, sinks []txSink, seed uint16) *worker {
	w := &worker{
		d:     d,
		rx:    rx,
		ports: ports,
		txqs:  make([]txq, len(ports)),
		bw:    d.bal.NewWorker(),
		frags: newFragTable(),
		batch: afpacket.NewBatch(d.io.BatchFrames()),
		arena: make([]byte, arenaSize),

		segScratch: make([]byte, 16<<10),
		ipid:       seed,
	}
	w.emitSeg = w.emitSegment
	for i := range w.txqs {
		w.txqs[i] = txq{
			sink:   sinks[i],
			frames: make([][]byte, 0, d.io.SendBatchFrames()),
			hdrs:   make([]afpacket.VnetHdr, 0, d.io.SendBatchFrames()),
		}
	}
	w.initTap()
	return w
}

// run receives and forwards until stop is closed.
func (w *worker) run(stop <-chan struct{}) error {
	defer w.publish(true)
	defer w.valve.Close()
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		n, err := w.rx.Recv(w.batch, 100*time.Millisecond)
		if err != nil {
			return err
		}
		if n == 0 {
			w.now = monotonic()
			w.shedding = w.valve.Update(0)
			w.publish(false)
			continue
		}
		w.now = monotonic()
		for i := range n {
			w.handle(&w.batch.Frames[i])
		}
		w.flush()
		w.rx.Release()
		if w.backlog != nil {
			w.shedding = w.valve.Update(w.backlog.Backlog(w.valve.High()))
		}
		w.endBatch(monotonic())
		w.publish(false)
	}
}

var clockBase = time.Now()

// monotonic is the balancer's clock: nanoseconds since the process started.
func monotonic() int64 { return int64(time.Since(clockBase)) }

// alloc returns n bytes of the arena, flushing the queues first when the
// arena is full (which frees it).
func (w *worker) alloc(n int) []byte {
	if n > len(w.arena) {
		return nil
	}
	if w.used+n > len(w.arena) {
		w.flush()
	}
	b := w.arena[w.used : w.used+n : w.used+n]
	w.used += n
	return b
}

// portIndex finds the interface govs owns with this index, or -1.
func (w *worker) portIndex(ifindex int) int {
	for i := range w.ports {
		if w.ports[i].ifindex == ifindex {
			return i
		}
	}
	return -1
}

// send queues a frame on interface i.
func (w *worker) send(i int, frame []byte, hdr afpacket.VnetHdr) {
	q := &w.txqs[i]
	if len(q.frames) == cap(q.frames) {
		w.flushQ(q)
	}
	q.frames = append(q.frames, frame)
	q.hdrs = append(q.hdrs, hdr)
}

func (w *worker) flushQ(q *txq) {
	if len(q.frames) == 0 {
		return
	}
	n, _ := q.sink.SendBatch(q.frames, q.hdrs)
	w.counters[cntTx] += uint64(n)
	if n < len(q.frames) {
		w.counters[cntTxFull] += uint64(len(q.frames) - n)
	}
	clear(q.frames)
	q.frames = q.frames[:0]
	q.hdrs = q.hdrs[:0]
}

func (w *worker) flush() {
	for i := range w.txqs {
		w.flushQ(&w.txqs[i])
	}
	w.flushQ(&w.tapq)
	w.used = 0
	w.bw.Flush() // publish the batch's packet and byte counters
}

// handle processes one received frame.
func (w *worker) handle(f *afpacket.Frame) {
	w.counters[cntRx]++
	if f.Truncated() {
		w.counters[cntTruncated]++
		return
	}
	p := &w.pkt
	if err := forward.Parse(f.Data, p); err != nil {
		w.counters[cntParseErr]++
		return
	}
	in := w.portIndex(int(f.Ifindex))
	if in < 0 {
		w.counters[cntNoEgress]++
		return
	}
	if p.EtherType == forward.EtherTypeARP {
		w.handleARP(f, in)
		return
	}
	if !forward.IPv4(f.Data[p.L3:p.L4]).ChecksumValid() {
		w.counters[cntBadIPCsum]++
		return
	}
	if f.HasVnet && f.Vnet.Flags&afpacket.VnetNeedsCsum != 0 {
		p.Partial = true
	}
	cfg := w.d.snap.Load()
	if cfg.isVIP(p.Dst) {
		w.toVIP(f, p, in, cfg)
		return
	}
	w.fromRealserver(f, p)
}

// handleARP answers requests for VIPs while this director is master.
func (w *worker) handleARP(f *afpacket.Frame, in int) {
	sha, spa, tpa, ok := arp.ParseRequest(f.Data)
	if !ok {
		w.counters[cntNotOurs]++
		return
	}
	cfg := w.d.snap.Load()
	if !cfg.master || !cfg.isVIP(tpa) {
		w.counters[cntNotOurs]++
		return
	}
	buf := w.alloc(64)
	if buf == nil {
		return
	}
	reply := arp.BuildReply(buf, w.ports[in].mac, tpa, sha, spa)
	w.send(in, reply, afpacket.VnetHdr{})
	w.counters[cntARPReply]++
}

// toVIP handles a packet addressed to a VIP address.
func (w *worker) toVIP(f *afpacket.Frame, p *forward.Packet, in int, cfg *snapshot) {
	switch p.Proto {
	case forward.ProtoICMP:
		if p.ICMPType == forward.ICMPEcho && !p.IsFragment() {
			if forward.BuildEchoReply(f.Data, p) {
				w.send(in, f.Data[:p.End], afpacket.VnetHdr{})
				w.counters[cntEchoReply]++
			}
			return
		}
		if p.HasInner {
			w.icmpIn(f, p)
			return
		}
		w.counters[cntNotOurs]++
		return
	case forward.ProtoTCP, forward.ProtoUDP:
	default:
		w.counters[cntUnknownProto]++
		return
	}

	if !cfg.master { // a backup is a realserver: its local service answers
		w.toLocal(f, p, cfg)
		return
	}
	if p.FragOff != 0 { // a later fragment: follow the first one
		e, ok := w.frags.lookup(p.Src, p.Dst, p.Proto, p.ID, w.now)
		if !ok {
			w.counters[cntFragUnknown]++
			return
		}
		w.forwardTo(f, p, e.v)
		return
	}
	w.flow = balancer.Flow{Proto: balancer.Proto(p.Proto), Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
	v := w.bw.In(&w.flow, p.TCPFlags, p.End-p.L3, w.now)
	if v.Action != balancer.Forward {
		if v.Reason == balancer.ReasonNotSYN && cfg.local.hasVIP(p.Dst) {
			// No connection here, but maybe in the local stack (one it
			// served as a backup): it knows, and answers RST if not.
			w.toLocal(f, p, cfg)
			return
		}
		w.countDrop(v.Reason)
		return
	}
	if p.MoreFrags {
		w.frags.insert(p.Src, p.Dst, p.Proto, p.ID, v, w.now)
	}
	w.forwardTo(f, p, v)
}

func (w *worker) countDrop(r balancer.Reason) {
	switch r {
	case balancer.ReasonNoService:
		w.counters[cntNoService]++
	case balancer.ReasonNoDest:
		w.counters[cntNoDest]++
	case balancer.ReasonTableFull:
		w.counters[cntTableFull]++
	case balancer.ReasonNotSYN:
		w.counters[cntNotSYN]++
	default:
		w.counters[cntNotOurs]++
	}
}

// forwardTo sends a client packet to the realserver the balancer chose.
func (w *worker) forwardTo(f *afpacket.Frame, p *forward.Packet, v balancer.Verdict) {
	switch v.Method {
	case balancer.MethodDR:
		mac, out, ok := w.neighbour(v.DestAddr)
		if !ok {
			return
		}
		forward.RewriteDR(f.Data, p, mac, w.ports[out].mac)
		w.send(out, f.Data[:p.End], vnetOf(f))
	case balancer.MethodMasq:
		forward.MasqIn(f.Data, p, v.DestAddr, v.DestPort)
		w.deliverMasq(f, p, v.DestAddr, vnetOf(f))
	case balancer.MethodTun:
		w.tunnel(f, p, v.DestAddr)
	case balancer.MethodLocal:
		w.toLocal(f, p, w.d.snap.Load())
	default:
		w.counters[cntLocalUnsupported]++
	}
}

// deliverMasq sends a frame already translated to a masquerading
// realserver rip: into the tap when rip is local (one-box LVS), else to
// rip's next hop.
func (w *worker) deliverMasq(f *afpacket.Frame, p *forward.Packet, rip [4]byte, hdr afpacket.VnetHdr) {
	if cfg := w.d.snap.Load(); cfg.local.isRIP(rip) {
		w.toLocal(f, p, cfg)
		return
	}
	mac, out, _, ok := w.route(rip)
	if !ok {
		return
	}
	forward.SetMACs(f.Data, mac, w.ports[out].mac)
	w.send(out, f.Data[:p.End], hdr)
}

// vnetOf is the virtio-net header to send a rewritten frame with: the
// received one (checksum offload and GSO stay with the kernel), or none.
func vnetOf(f *afpacket.Frame) afpacket.VnetHdr {
	if f.HasVnet {
		return f.Vnet
	}
	return afpacket.VnetHdr{}
}

// neighbour resolves an on-link realserver for DR.
func (w *worker) neighbour(addr [4]byte) (mac [6]byte, out int, ok bool) {
	mac, ifindex, _, ok := w.d.res.Resolve(addr)
	if !ok {
		w.counters[cntNoNeigh]++
		return mac, 0, false
	}
	out = w.portIndex(ifindex)
	if out < 0 {
		w.counters[cntNoEgress]++
		return mac, 0, false
	}
	return mac, out, true
}

// route resolves the next hop towards addr.
func (w *worker) route(addr [4]byte) (mac [6]byte, out int, src [4]byte, ok bool) {
	mac, ifindex, src, ok := w.d.res.Resolve(addr)
	if !ok {
		w.counters[cntNoNeigh]++
		return mac, 0, src, false
	}
	out = w.portIndex(ifindex)
	if out < 0 {
		w.counters[cntNoEgress]++
		return mac, 0, src, false
	}
	return mac, out, src, true
}

// tunnel encapsulates a client packet in IPIP towards rip. Checksums the
// kernel left to offload are completed first and GSO frames are segmented
// in user space: virtio-net headers cannot describe offloads inside IPIP.
func (w *worker) tunnel(f *afpacket.Frame, p *forward.Packet, rip [4]byte) {
	mac, out, src, ok := w.route(rip)
	if !ok {
		return
	}
	mtu := w.ports[out].mtu
	if f.HasVnet && f.Vnet.IsGSO() && p.Proto == forward.ProtoTCP {
		mss := int(f.Vnet.GSOSize)
		if limit := mtu - forward.IPv4MinHeaderLen - (p.L4 - p.L3) - int(p.TCPHdrLen); mss > limit {
			mss = limit
		}
		w.segmentAndTunnel(f, p, mss, out, mac, src, rip)
		return
	}
	if f.HasVnet && f.Vnet.Flags&afpacket.VnetNeedsCsum != 0 {
		forward.CompleteChecksum(f.Data, p, int(f.Vnet.CsumStart), int(f.Vnet.CsumOffset))
	}
	if forward.NeedFragICMP(p, mtu) {
		w.fragNeeded(f, p, mtu)
		return
	}
	frameOff := f.Headroom
	outFrame := forward.EncapIPIP(f.Buf, frameOff, p, src, rip, w.nextID(), w.ports[out].mac, mac)
	if outFrame == nil {
		w.counters[cntSegmentErr]++
		return
	}
	w.send(out, outFrame, afpacket.VnetHdr{})
}

func (w *worker) nextID() uint16 { w.ipid++; return w.ipid }

func (w *worker) segmentAndTunnel(f *afpacket.Frame, p *forward.Packet, mss, out int, mac [6]byte, src, rip [4]byte) {
	w.seg = segState{out: out, mac: mac, src: src, rip: rip}
	_, err := forward.SegmentTCP(f.Data, p, mss, w.segScratch, w.emitSeg)
	if err != nil || w.seg.failed {
		w.counters[cntSegmentErr]++
	}
}

// segState is where segmentAndTunnel sends the segments emitSegment gets.
type segState struct {
	out      int
	mac      [6]byte
	src, rip [4]byte
	failed   bool
}

// emitSegment encapsulates one segment from SegmentTCP. SegmentTCP reuses
// its scratch, so the segment is copied into the arena behind room for the
// outer header, where it stays until the flush.
func (w *worker) emitSegment(seg []byte) {
	s := &w.seg
	buf := w.alloc(forward.Headroom + len(seg))
	if buf == nil {
		s.failed = true
		return
	}
	copy(buf[forward.Headroom:], seg)
	var sp forward.Packet
	if forward.Parse(buf[forward.Headroom:], &sp) != nil {
		s.failed = true
		return
	}
	o := forward.EncapIPIP(buf, forward.Headroom, &sp, s.src, s.rip, w.nextID(), w.ports[s.out].mac, s.mac)
	if o == nil {
		s.failed = true
		return
	}
	w.send(s.out, o, afpacket.VnetHdr{})
}

// fragNeeded answers a DF packet too big for the tunnel with ICMP
// "fragmentation needed", as IPVS does.
func (w *worker) fragNeeded(f *afpacket.Frame, p *forward.Packet, mtu int) {
	mac, out, _, ok := w.route(p.Src)
	if !ok {
		return
	}
	buf := w.alloc(forward.FragNeededLen(p))
	if buf == nil {
		return
	}
	vip := p.Dst
	icmp := forward.BuildFragNeeded(buf, p, f.Data, mtu, vip, w.ports[out].mac, mac)
	if icmp == nil {
		return
	}
	w.send(out, icmp, afpacket.VnetHdr{})
	w.counters[cntFragNeeded]++
}

// fromRealserver handles a packet that is not to a VIP: a masquerading
// realserver's reply, or an ICMP error from the realserver side.
func (w *worker) fromRealserver(f *afpacket.Frame, p *forward.Packet) {
	switch p.Proto {
	case forward.ProtoTCP, forward.ProtoUDP:
	case forward.ProtoICMP:
		if p.HasInner {
			w.icmpOut(f, p)
			return
		}
		w.counters[cntNotOurs]++
		return
	default:
		w.counters[cntNotOurs]++
		return
	}
	if p.IsFragment() {
		w.counters[cntFragUnknown]++
		return
	}
	w.flow = balancer.Flow{Proto: balancer.Proto(p.Proto), Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
	v := w.bw.Out(&w.flow, p.TCPFlags, p.End-p.L3, w.now)
	if v.Action != balancer.Forward {
		w.counters[cntNotOurs]++
		return
	}
	mac, out, _, ok := w.route(p.Dst)
	if !ok {
		return
	}
	forward.MasqOut(f.Data, p, v.VIP, v.VPort)
	forward.SetMACs(f.Data, mac, w.ports[out].mac)
	w.send(out, f.Data[:p.End], vnetOf(f))
}

// icmpIn handles an ICMP error sent to a VIP about a packet a realserver
// sent from it (ip_vs_in_icmp): the quoted packet runs VIP -> client.
func (w *worker) icmpIn(f *afpacket.Frame, p *forward.Packet) {
	q := &p.Inner
	if !q.HasPorts || (q.Proto != forward.ProtoTCP && q.Proto != forward.ProtoUDP) {
		w.counters[cntNotOurs]++
		return
	}
	// The connection is client -> VIP: the quote reversed.
	w.flow = balancer.Flow{Proto: balancer.Proto(q.Proto), Src: q.Dst, Dst: q.Src, SrcPort: q.DstPort, DstPort: q.SrcPort}
	v := w.bw.Related(&w.flow, false)
	if v.Action != balancer.Forward {
		w.counters[cntNotOurs]++
		return
	}
	switch v.Method {
	case balancer.MethodMasq:
		forward.MasqICMPIn(f.Data, p, v.DestAddr, v.DestPort)
		w.deliverMasq(f, p, v.DestAddr, afpacket.VnetHdr{})
	default:
		// DR/TUN/local: the realserver gets the error unchanged.
		w.forwardTo(f, p, v)
	}
}

// icmpOut handles an ICMP error from the realserver side about a packet
// govs forwarded there (ip_vs_out_icmp): the quote runs client -> RIP.
func (w *worker) icmpOut(f *afpacket.Frame, p *forward.Packet) {
	q := &p.Inner
	if !q.HasPorts || (q.Proto != forward.ProtoTCP && q.Proto != forward.ProtoUDP) {
		w.counters[cntNotOurs]++
		return
	}
	w.flow = balancer.Flow{Proto: balancer.Proto(q.Proto), Src: q.Src, Dst: q.Dst, SrcPort: q.SrcPort, DstPort: q.DstPort}
	v := w.bw.Related(&w.flow, true)
	if v.Action != balancer.Forward || v.Method != balancer.MethodMasq {
		w.counters[cntNotOurs]++
		return
	}
	mac, out, _, ok := w.route(p.Dst)
	if !ok {
		return
	}
	forward.MasqICMPOut(f.Data, p, v.VIP, v.VPort)
	forward.SetMACs(f.Data, mac, w.ports[out].mac)
	w.send(out, f.Data[:p.End], afpacket.VnetHdr{})
}
