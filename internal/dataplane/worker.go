package dataplane

import (
	"sync/atomic"
	"time"

	"github.com/govs-lb/govs/arp"
	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/xdpshed"
)

// Port is an interface govs forwards on, as a Worker sees it.
type Port struct {
	Ifindex int
	MAC     [6]byte
	MTU     int
}

// Resolver finds where a packet to an address goes: the Ethernet
// destination, the output interface and the source address to use. The
// arp.Resolver implements it over the kernel's tables; tests use a map.
type Resolver interface {
	Resolve(dst [4]byte) (mac [6]byte, ifindex int, src [4]byte, ok bool)
}

// Snapshot is the configuration a Worker reads per packet, published
// whole (Config.Snapshot): workers never see half of a change.
type Snapshot struct {
	Master bool                 // answer ARP for the VIPs and schedule; a backup hands VIP traffic to the tap
	VIPs   map[[4]byte]struct{} // addresses of the virtual services
	Local  LocalSnapshot        // LocalNode: the tap and what goes through it (local.go)
}

func (s *Snapshot) isVIP(a [4]byte) bool {
	_, ok := s.VIPs[a]
	return ok
}

// Config is what a Worker is built from.
type Config struct {
	// Rx is the capture engine's receive side; nil for a Worker that is
	// only given frames through ReadTap.
	Rx Receiver
	// Backlog and Valve turn the receive side's backlog into XDP load
	// shedding; Backlog nil (tests, the tap's worker) never sheds.
	Backlog Backlogger
	Valve   xdpshed.Valve
	// Ports are the interfaces govs forwards on, Tx the transmit side on
	// each, in the same order.
	Ports []Port
	Tx    []Sender
	// Tap sends frames to the host stack through the LocalNode tap.
	Tap Sender
	// Balancer is this Worker's own handle on the balancer.
	Balancer *balancer.Worker
	// Snapshot is where the configuration is published.
	Snapshot *atomic.Pointer[Snapshot]
	// Resolver resolves next hops.
	Resolver Resolver
	// BatchFrames is the number of frames taken per receive, SendBatch
	// the number queued per interface before they are sent.
	BatchFrames, SendBatch int
	// Seed starts the IP ids of the headers the Worker builds.
	Seed uint16
}

// txq is one worker's pending output on one interface. Frames point into
// the receive buffers or the worker's arena; they are sent before the
// receive buffers are released.
type txq struct {
	tx     Sender
	frames [][]byte
	offl   []Offload
}

func newTxq(tx Sender, n int) txq {
	return txq{tx: tx, frames: make([][]byte, 0, n), offl: make([]Offload, 0, n)}
}

// arenaSize bounds the bytes a worker builds per batch (ARP replies, ICMP
// errors, TCP segments for tunnels).
const arenaSize = 512 << 10

// Worker is one dataplane goroutine: one receive queue, its own balancer
// handle and counters, and a transmit queue per interface. Nothing in it
// is shared, so the per-packet path takes no lock and allocates nothing.
type Worker struct {
	rx    Receiver
	snap  *atomic.Pointer[Snapshot]
	res   Resolver
	ports []Port
	txqs  []txq
	tapq  txq // frames for the host stack through the tap (LocalNode, local.go)
	bw    *balancer.Worker
	frags *fragTable

	batch Batch
	pkt   forward.Packet
	flow  balancer.Flow
	now   int64
	ipid  uint16
	arena []byte
	used  int

	backlog  Backlogger
	valve    xdpshed.Valve
	shedding bool

	segScratch []byte // one TCP segment at a time, for tunnels
	seg        segState
	emitSeg    func([]byte) // w.emitSegment, bound once

	counters Counters // written by this worker only
	batchMax int64    // longest batch (ns) since the last publish
	pub      published
}

// New returns a Worker built from cfg.
func New(cfg Config) *Worker {
	w := &Worker{
		rx:      cfg.Rx,
		snap:    cfg.Snapshot,
		res:     cfg.Resolver,
		ports:   cfg.Ports,
		txqs:    make([]txq, len(cfg.Ports)),
		tapq:    newTxq(cfg.Tap, afpacket.MaxBatch),
		bw:      cfg.Balancer,
		frags:   new(fragTable),
		batch:   *NewBatch(cfg.BatchFrames),
		arena:   make([]byte, arenaSize),
		backlog: cfg.Backlog,
		valve:   cfg.Valve,

		segScratch: make([]byte, 16<<10),
		ipid:       cfg.Seed,
	}
	w.emitSeg = w.emitSegment
	for i := range w.txqs {
		w.txqs[i] = newTxq(cfg.Tx[i], cfg.SendBatch)
	}
	return w
}

// Run receives and forwards until stop is closed, then publishes its
// counters a last time.
func (w *Worker) Run(stop <-chan struct{}) error {
	defer w.publish(true)
	defer w.valve.Close()
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		n, err := w.rx.Recv(&w.batch, 100*time.Millisecond)
		if err != nil {
			return err
		}
		if n == 0 {
			w.now = Monotonic()
			w.shedding = w.valve.Update(0)
			w.publish(false)
			continue
		}
		w.now = Monotonic()
		for i := range n {
			w.handle(&w.batch.Frames[i])
		}
		w.flush()
		w.rx.Release()
		if w.backlog != nil {
			w.shedding = w.valve.Update(w.backlog.Backlog(w.valve.High()))
		}
		w.endBatch(Monotonic())
		w.publish(false)
	}
}

var clockBase = time.Now()

// Monotonic is the balancer's clock: nanoseconds since the process started.
func Monotonic() int64 { return int64(time.Since(clockBase)) }

// alloc returns n bytes of the arena, flushing the queues first when the
// arena is full (which frees it).
func (w *Worker) alloc(n int) []byte {
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
func (w *Worker) portIndex(ifindex int) int {
	for i := range w.ports {
		if w.ports[i].Ifindex == ifindex {
			return i
		}
	}
	return -1
}

// send queues a frame on interface i.
func (w *Worker) send(i int, frame []byte, offl Offload) {
	q := &w.txqs[i]
	if len(q.frames) == cap(q.frames) {
		w.flushQ(q)
	}
	q.frames = append(q.frames, frame)
	q.offl = append(q.offl, offl)
}

func (w *Worker) flushQ(q *txq) {
	if len(q.frames) == 0 {
		return
	}
	n, _ := q.tx.SendBatch(q.frames, q.offl)
	w.counters[Tx] += uint64(n)
	if n < len(q.frames) {
		w.counters[TxFull] += uint64(len(q.frames) - n)
	}
	clear(q.frames)
	q.frames = q.frames[:0]
	q.offl = q.offl[:0]
}

func (w *Worker) flush() {
	for i := range w.txqs {
		w.flushQ(&w.txqs[i])
	}
	w.flushQ(&w.tapq)
	w.used = 0
	w.bw.Flush() // publish the batch's packet and byte counters
}

// handle processes one received frame.
func (w *Worker) handle(f *Frame) {
	w.counters[Rx]++
	if f.Truncated() {
		w.counters[Truncated]++
		return
	}
	p := &w.pkt
	if err := forward.Parse(f.Data, p); err != nil {
		w.counters[parseErrorCounter(err)]++
		return
	}
	in := w.portIndex(int(f.Ifindex))
	if in < 0 {
		w.counters[NoEgress]++
		return
	}
	if p.EtherType == forward.EtherTypeARP {
		w.handleARP(f, in)
		return
	}
	if !w.checkIPv4(f, p) {
		return
	}
	cfg := w.snap.Load()
	if cfg.isVIP(p.Dst) {
		w.toVIP(f, p, in, cfg)
		return
	}
	w.fromRealserver(f, p)
}

// checkIPv4 verifies the IPv4 header checksum of a parsed packet (counting
// it when wrong) and marks the packet's L4 checksum partial when offload
// left it so.
func (w *Worker) checkIPv4(f *Frame, p *forward.Packet) bool {
	if !forward.IPv4(f.Data[p.L3:p.L4]).ChecksumValid() {
		w.counters[BadIPChecksum]++
		return false
	}
	if checksumPartial(&f.Offload) {
		p.Partial = true
	}
	return true
}

// handleARP answers requests for VIPs while this director is master.
func (w *Worker) handleARP(f *Frame, in int) {
	sha, spa, tpa, ok := arp.ParseRequest(f.Data)
	if !ok {
		w.counters[NotOurs]++
		return
	}
	cfg := w.snap.Load()
	if !cfg.Master || !cfg.isVIP(tpa) {
		w.counters[NotOurs]++
		return
	}
	buf := w.alloc(64)
	if buf == nil {
		return
	}
	reply := arp.BuildReply(buf, w.ports[in].MAC, tpa, sha, spa)
	w.send(in, reply, Offload{})
	w.counters[ARPReply]++
}

// toVIP handles a packet addressed to a VIP address.
func (w *Worker) toVIP(f *Frame, p *forward.Packet, in int, cfg *Snapshot) {
	switch p.Proto {
	case forward.ProtoICMP:
		if p.ICMPType == forward.ICMPEcho && !p.IsFragment() {
			if forward.BuildEchoReply(f.Data, p) {
				w.send(in, f.Data[:p.End], Offload{})
				w.counters[EchoReply]++
			}
			return
		}
		if p.HasInner {
			w.icmpIn(f, p)
			return
		}
		w.counters[NotOurs]++
		return
	case forward.ProtoTCP, forward.ProtoUDP:
	default:
		w.counters[UnknownProtocol]++
		return
	}

	if !cfg.Master { // a backup is a realserver: its local service answers
		w.toLocal(f, p, cfg)
		return
	}
	if p.FragOff != 0 { // a later fragment: follow the first one
		e, ok := w.frags.lookup(p.Src, p.Dst, p.Proto, p.ID, w.now)
		if !ok {
			w.counters[FragUnknown]++
			return
		}
		w.forwardTo(f, p, e.v)
		return
	}
	w.flow = balancer.Flow{Proto: balancer.Proto(p.Proto), Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
	v := w.bw.In(&w.flow, p.TCPFlags, p.End-p.L3, w.now)
	if v.Action != balancer.Forward {
		if v.Reason == balancer.ReasonNotSYN && cfg.Local.hasVIP(p.Dst) {
			// No connection here, but maybe in the local stack (one it
			// served as a backup): it knows, and answers RST if not.
			w.toLocal(f, p, cfg)
			return
		}
		w.counters[reasonCounter[v.Reason]]++
		return
	}
	if p.MoreFrags {
		w.frags.insert(p.Src, p.Dst, p.Proto, p.ID, v, w.now)
	}
	w.forwardTo(f, p, v)
}

// forwardTo sends a client packet to the realserver the balancer chose.
func (w *Worker) forwardTo(f *Frame, p *forward.Packet, v balancer.Verdict) {
	switch v.Method {
	case balancer.MethodDR:
		mac, out, _, ok := w.route(v.DestAddr)
		if !ok {
			return
		}
		forward.RewriteDR(f.Data, p, mac, w.ports[out].MAC)
		w.send(out, f.Data[:p.End], f.Offload)
	case balancer.MethodMasq:
		forward.MasqIn(f.Data, p, v.DestAddr, v.DestPort)
		w.deliverMasq(f, p, v.DestAddr, f.Offload)
	case balancer.MethodTun:
		w.tunnel(f, p, v.DestAddr)
	case balancer.MethodLocal:
		w.toLocal(f, p, w.snap.Load())
	default:
		w.counters[LocalUnsupported]++
	}
}

// deliverMasq sends a frame already translated to a masquerading
// realserver rip: into the tap when rip is local (one-box LVS), else to
// rip's next hop.
func (w *Worker) deliverMasq(f *Frame, p *forward.Packet, rip [4]byte, offl Offload) {
	if cfg := w.snap.Load(); cfg.Local.isRIP(rip) {
		w.toLocal(f, p, cfg)
		return
	}
	w.toNextHop(f, p, rip, offl)
}

// toNextHop sends a rewritten frame to the next hop towards addr.
func (w *Worker) toNextHop(f *Frame, p *forward.Packet, addr [4]byte, offl Offload) {
	mac, out, _, ok := w.route(addr)
	if !ok {
		return
	}
	forward.SetMACs(f.Data, mac, w.ports[out].MAC)
	w.send(out, f.Data[:p.End], offl)
}

// route resolves the next hop towards addr: a realserver (DR, masq,
// tunnel) or a client.
func (w *Worker) route(addr [4]byte) (mac [6]byte, out int, src [4]byte, ok bool) {
	mac, ifindex, src, ok := w.res.Resolve(addr)
	if !ok {
		w.counters[NoNeighbour]++
		return mac, 0, src, false
	}
	out = w.portIndex(ifindex)
	if out < 0 {
		w.counters[NoEgress]++
		return mac, 0, src, false
	}
	return mac, out, src, true
}

// tunnel encapsulates a client packet in IPIP towards rip. Checksums the
// kernel left to offload are completed first and GSO frames are segmented
// in user space: virtio-net headers cannot describe offloads inside IPIP.
func (w *Worker) tunnel(f *Frame, p *forward.Packet, rip [4]byte) {
	mac, out, src, ok := w.route(rip)
	if !ok {
		return
	}
	mtu := w.ports[out].MTU
	if f.Offload.IsGSO() && p.Proto == forward.ProtoTCP {
		mss := int(f.Offload.GSOSize)
		if limit := mtu - forward.IPv4MinHeaderLen - (p.L4 - p.L3) - int(p.TCPHdrLen); mss > limit {
			mss = limit
		}
		w.segmentAndTunnel(f, p, mss, out, mac, src, rip)
		return
	}
	if checksumPartial(&f.Offload) {
		forward.CompleteChecksum(f.Data, p, int(f.Offload.CsumStart), int(f.Offload.CsumOffset))
	}
	if forward.NeedFragICMP(p, mtu) {
		w.fragNeeded(f, p, mtu)
		return
	}
	frameOff := f.Headroom
	outFrame := forward.EncapIPIP(f.Buf, frameOff, p, src, rip, w.nextID(), w.ports[out].MAC, mac)
	if outFrame == nil {
		w.counters[SegmentError]++
		return
	}
	w.send(out, outFrame, Offload{})
}

func (w *Worker) nextID() uint16 { w.ipid++; return w.ipid }

func (w *Worker) segmentAndTunnel(f *Frame, p *forward.Packet, mss, out int, mac [6]byte, src, rip [4]byte) {
	w.seg = segState{out: out, mac: mac, src: src, rip: rip}
	_, err := forward.SegmentTCP(f.Data, p, mss, w.segScratch, w.emitSeg)
	if err != nil || w.seg.failed {
		w.counters[SegmentError]++
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
func (w *Worker) emitSegment(seg []byte) {
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
	o := forward.EncapIPIP(buf, forward.Headroom, &sp, s.src, s.rip, w.nextID(), w.ports[s.out].MAC, s.mac)
	if o == nil {
		s.failed = true
		return
	}
	w.send(s.out, o, Offload{})
}

// fragNeeded answers a DF packet too big for the tunnel with ICMP
// "fragmentation needed", as IPVS does.
func (w *Worker) fragNeeded(f *Frame, p *forward.Packet, mtu int) {
	mac, out, _, ok := w.route(p.Src)
	if !ok {
		return
	}
	buf := w.alloc(forward.FragNeededLen(p))
	if buf == nil {
		return
	}
	vip := p.Dst
	icmp := forward.BuildFragNeeded(buf, p, f.Data, mtu, vip, w.ports[out].MAC, mac)
	if icmp == nil {
		return
	}
	w.send(out, icmp, Offload{})
	w.counters[FragNeeded]++
}

// fromRealserver handles a packet that is not to a VIP: a masquerading
// realserver's reply, or an ICMP error from the realserver side.
func (w *Worker) fromRealserver(f *Frame, p *forward.Packet) {
	switch p.Proto {
	case forward.ProtoTCP, forward.ProtoUDP:
	case forward.ProtoICMP:
		if p.HasInner {
			w.icmpOut(f, p)
			return
		}
		w.counters[NotOurs]++
		return
	default:
		w.counters[NotOurs]++
		return
	}
	if p.IsFragment() {
		w.counters[FragUnknown]++
		return
	}
	w.flow = balancer.Flow{Proto: balancer.Proto(p.Proto), Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
	v := w.bw.Out(&w.flow, p.TCPFlags, p.End-p.L3, w.now)
	if v.Action != balancer.Forward {
		w.counters[NotOurs]++
		return
	}
	forward.MasqOut(f.Data, p, v.VIP, v.VPort)
	w.toNextHop(f, p, p.Dst, f.Offload)
}

// quotesConn reports whether an ICMP error quotes the TCP or UDP ports
// a connection is looked up by.
func quotesConn(p *forward.Packet) bool {
	q := &p.Inner
	return q.HasPorts && (q.Proto == forward.ProtoTCP || q.Proto == forward.ProtoUDP)
}

// icmpIn handles an ICMP error sent to a VIP about a packet a realserver
// sent from it (ip_vs_in_icmp): the quoted packet runs VIP -> client.
func (w *Worker) icmpIn(f *Frame, p *forward.Packet) {
	q := &p.Inner
	if !quotesConn(p) {
		w.counters[NotOurs]++
		return
	}
	// The connection is client -> VIP: the quote reversed.
	w.flow = balancer.Flow{Proto: balancer.Proto(q.Proto), Src: q.Dst, Dst: q.Src, SrcPort: q.DstPort, DstPort: q.SrcPort}
	v := w.bw.Related(&w.flow, false)
	if v.Action != balancer.Forward {
		w.counters[NotOurs]++
		return
	}
	switch v.Method {
	case balancer.MethodMasq:
		forward.MasqICMPIn(f.Data, p, v.DestAddr, v.DestPort)
		w.deliverMasq(f, p, v.DestAddr, Offload{})
	default:
		// DR/TUN/local: the realserver gets the error unchanged.
		w.forwardTo(f, p, v)
	}
}

// icmpIn and icmpOut mirror the kernel's ip_vs_in_icmp and ip_vs_out_icmp:
// the same checks on the quoted packet, in opposite directions.
//
// icmpOut handles an ICMP error from the realserver side about a packet
// govs forwarded there (ip_vs_out_icmp): the quote runs client -> RIP.
func (w *Worker) icmpOut(f *Frame, p *forward.Packet) {
	q := &p.Inner
	if !quotesConn(p) {
		w.counters[NotOurs]++
		return
	}
	w.flow = balancer.Flow{Proto: balancer.Proto(q.Proto), Src: q.Src, Dst: q.Dst, SrcPort: q.SrcPort, DstPort: q.DstPort}
	v := w.bw.Related(&w.flow, true)
	if v.Action != balancer.Forward || v.Method != balancer.MethodMasq {
		w.counters[NotOurs]++
		return
	}
	forward.MasqICMPOut(f.Data, p, v.VIP, v.VPort)
	w.toNextHop(f, p, p.Dst, Offload{})
}
