package director

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/localnode"
)

// LocalNode: realservers whose address belongs to the director get their
// traffic through a tap device (package localnode). A LocalNode
// destination (-g/-i to 127.0.0.1 or a host address, shown as "Local") gets
// the frame unmodified, the VIP being a /32 on the tap; a local masq
// destination (-m) gets it after DNAT, and its replies come back out of the
// tap (policy routing), where the tap reader un-NATs them like any masq
// reply. A backup director delivers all VIP traffic that reaches it to its
// local service the same way.

// localSnap is the workers' view of LocalNode, part of the snapshot.
type localSnap struct {
	up     bool    // the tap exists
	tapMAC [6]byte // destination MAC of frames written into the tap
	vips   map[[4]byte]struct{}
	rips   map[[4]byte]struct{} // local masq realservers
}

func (l *localSnap) hasVIP(a [4]byte) bool {
	_, ok := l.vips[a]
	return ok && l.up
}

func (l *localSnap) isRIP(a [4]byte) bool {
	_, ok := l.rips[a]
	return ok
}

// localState is the director's LocalNode machinery. tap and want change
// under d.mu; tapPtr is what the workers' tap sink reads.
type localState struct {
	addrs  *localnode.AddrSet
	sysctl *localnode.Sysctls // the capture interfaces' ARP settings
	want   localnode.State
	tap    *localnode.Tap
	tapPtr atomic.Pointer[localnode.Tap]

	reader     *worker // un-NATs masq replies read from the tap
	readerTxs  []*afpacket.Socket
	readerDone chan struct{}
	stopWatch  context.CancelFunc
}

// tapSink is every worker's transmit side towards the tap.
type tapSink struct{ d *Director }

var errNoTap = errors.New("no LocalNode tap")

func (s tapSink) SendBatch(frames [][]byte, hdrs []afpacket.VnetHdr) (int, error) {
	t := s.d.local.tapPtr.Load()
	if t == nil {
		return 0, errNoTap
	}
	return t.SendBatch(frames, hdrs)
}

func (w *worker) initTap() {
	w.tapq = txq{
		sink:   tapSink{d: w.d},
		frames: make([][]byte, 0, afpacket.MaxBatch),
		hdrs:   make([]afpacket.VnetHdr, 0, afpacket.MaxBatch),
	}
}

// toLocal hands a frame addressed to a VIP (LocalNode, backup) or, after
// DNAT, to a local masq realserver to the host stack through the tap.
func (w *worker) toLocal(f *afpacket.Frame, p *forward.Packet, cfg *snapshot) {
	if !cfg.local.up || !(cfg.local.hasVIP(p.Dst) || cfg.local.isRIP(p.Dst)) {
		w.counters[cntLocalUnsupported]++
		return
	}
	forward.RewriteLocal(f.Data, p, cfg.local.tapMAC)
	q := &w.tapq
	if len(q.frames) == cap(q.frames) {
		w.flushQ(q)
	}
	q.frames = append(q.frames, f.Data[:p.End])
	q.hdrs = append(q.hdrs, vnetOf(f))
}

// isLocalAddr reports whether a realserver address is local to this host.
func (d *Director) isLocalAddr(a netip.Addr) bool {
	if d.local.addrs == nil { // not running (the Restore dry run)
		return isLocal(a)
	}
	except := 0
	if t := d.local.tapPtr.Load(); t != nil {
		except = t.Index()
	}
	return d.local.addrs.IsLocal(a, except)
}

// wantLocal is the tap state the services call for. Called with d.mu held.
func (d *Director) wantLocal() localnode.State {
	var st localnode.State
	for _, s := range d.bal.Services() {
		for _, ds := range s.Dests {
			switch {
			case ds.Method == balancer.MethodLocal:
				st.VIPs = append(st.VIPs, s.Addr)
			case ds.Method == balancer.MethodMasq && d.isLocalAddr(ds.Addr):
				st.VIPs = append(st.VIPs, s.Addr)
				st.MasqRIPs = append(st.MasqRIPs, ds.Addr)
			}
		}
	}
	return st.Normalize()
}

// publishLocal fills the snapshot's LocalNode part. Called with d.mu held
// (or before the workers start).
func (d *Director) publishLocal(s *snapshot) {
	s.local = localSnap{vips: map[[4]byte]struct{}{}, rips: map[[4]byte]struct{}{}}
	t := d.local.tap
	if t == nil {
		return
	}
	s.local.up = true
	s.local.tapMAC = t.MAC()
	for _, a := range d.local.want.VIPs {
		s.local.vips[a.As4()] = struct{}{}
	}
	for _, a := range d.local.want.MasqRIPs {
		s.local.rips[a.As4()] = struct{}{}
	}
}

// syncLocal creates, updates or removes the tap for the services' local
// realservers. Called with d.mu held, before publish.
func (d *Director) syncLocal() error {
	if d.local.addrs == nil {
		return nil // LocalNode not started (tests of the config path)
	}
	want := d.wantLocal()
	d.local.want = want
	if want.Empty() {
		d.closeTap()
		return nil
	}
	if d.local.tap == nil {
		t, err := localnode.Open(localnode.Config{Name: d.cfg.Tap})
		if err != nil {
			d.local.want = localnode.State{}
			return fmt.Errorf("LocalNode: %w", err)
		}
		d.local.tap = t
		d.local.tapPtr.Store(t)
		d.local.readerDone = make(chan struct{})
		go d.readTap(t, d.local.readerDone)
		mac := t.MAC()
		d.log.Info("LocalNode tap up", "tap", t.Name(), "mac", net.HardwareAddr(mac[:]).String(), "table", t.Table())
	}
	if err := d.local.tap.Sync(want); err != nil {
		return fmt.Errorf("LocalNode: %w", err)
	}
	return nil
}

// closeTap removes the tap and everything that went with it. Called with
// d.mu held.
func (d *Director) closeTap() {
	t := d.local.tap
	if t == nil {
		return
	}
	d.local.tap = nil
	d.local.tapPtr.Store(nil)
	if err := t.Close(); err != nil {
		d.log.Warn("LocalNode: close tap", "err", err)
	}
	<-d.local.readerDone
	d.log.Info("LocalNode tap removed", "tap", t.Name())
}

// readTap reads what the host stack sends out of the tap (the replies of
// local masq realservers) and sends it on as un-NATed masq replies.
func (d *Director) readTap(t *localnode.Tap, done chan struct{}) {
	defer close(done)
	runtime.LockOSThread()
	w := d.local.reader
	buf := make([]byte, ringHeadroom+afpacket.VnetHdrLen+65536)
	for {
		n, err := t.ReadFrame(buf[ringHeadroom:])
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				d.log.Warn("LocalNode: read tap", "err", err)
			}
			return
		}
		if n <= afpacket.VnetHdrLen {
			continue
		}
		end := ringHeadroom + n
		f := afpacket.Frame{
			Buf:      buf[:end:end],
			Headroom: ringHeadroom + afpacket.VnetHdrLen,
			Data:     buf[ringHeadroom+afpacket.VnetHdrLen : end : end],
			Len:      n - afpacket.VnetHdrLen,
			Ifindex:  int32(t.Index()),
			HasVnet:  true,
		}
		f.Vnet.Decode(buf[ringHeadroom:])
		w.now = monotonic()
		w.handleTap(&f)
		w.flush()
		w.publish(false)
	}
}

// handleTap processes one frame the host stack wrote to the tap.
func (w *worker) handleTap(f *afpacket.Frame) {
	w.counters[cntRx]++
	p := &w.pkt
	if err := forward.Parse(f.Data, p); err != nil {
		w.counters[cntParseErr]++
		return
	}
	if p.EtherType != forward.EtherTypeIPv4 {
		w.counters[cntNotOurs]++
		return
	}
	if !forward.IPv4(f.Data[p.L3:p.L4]).ChecksumValid() {
		w.counters[cntBadIPCsum]++
		return
	}
	if f.Vnet.Flags&afpacket.VnetNeedsCsum != 0 {
		p.Partial = true
	}
	if f.Vnet.IsGSO() {
		// The tap is opened without offloads (TUNSETOFFLOAD), so the
		// kernel segments before it writes; a GSO frame is unexpected.
		w.counters[cntSegmentErr]++
		return
	}
	w.fromRealserver(f, p)
}

// startLocal prepares LocalNode and the ARP guarantees: the host's
// addresses are followed, the kernel is kept from answering ARP for VIPs
// (arp_ignore=1) or using them as ARP sources (arp_announce=2) on the
// capture interfaces and accepts packets from a VIP there (accept_local=1:
// DR replies routed through the director while the tap holds the VIP), and
// a worker is made for the tap's replies. The
// returned function undoes it all; call it before the workers stop.
func (d *Director) startLocal(ctx context.Context) (func(), error) {
	d.local.sysctl = &localnode.Sysctls{}
	for _, name := range d.names {
		if err := d.local.sysctl.AtLeast(localnode.ConfKey(name, "arp_ignore"), 1); err != nil {
			d.local.sysctl.Restore()
			return nil, err
		}
		if err := d.local.sysctl.AtLeast(localnode.ConfKey(name, "arp_announce"), 2); err != nil {
			d.local.sysctl.Restore()
			return nil, err
		}
		// Replies of DR realservers routed through the director come from
		// a VIP, which is local while the tap holds it: not martians.
		if err := d.local.sysctl.Set(localnode.ConfKey(name, "accept_local"), "1"); err != nil {
			d.local.sysctl.Restore()
			return nil, err
		}
	}
	restoreARP := func() {
		if d.released.Load() {
			return // taken over: the successor keeps them, and restores them (takeover.go)
		}
		if err := d.local.sysctl.Restore(); err != nil {
			d.log.Warn("restore ARP sysctls", "err", err)
		}
	}

	wctx, cancel := context.WithCancel(ctx)
	addrs := localnode.NewAddrSet()
	if err := addrs.Watch(wctx); err != nil {
		cancel()
		restoreARP()
		return nil, err
	}

	sinks := make([]txSink, len(d.ports))
	var txs []*afpacket.Socket
	for i, p := range d.ports {
		tx, err := afpacket.OpenTX(p.ifindex, afpacket.Config{VnetHdr: true, QdiscBypass: true})
		if err != nil {
			for _, s := range txs {
				s.Close()
			}
			cancel()
			restoreARP()
			return nil, fmt.Errorf("send socket: %w", err)
		}
		txs = append(txs, tx)
		sinks[i] = tx
	}
	d.mu.Lock()
	d.local.addrs = addrs
	d.local.readerTxs = txs
	d.local.reader = newWorker(d, nil, d.ports, sinks, uint16(os.Getpid()))
	d.local.stopWatch = cancel
	d.mu.Unlock()

	// Addresses come and go: a masq realserver may become local or stop
	// being so.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-wctx.Done():
				return
			case <-addrs.Changed():
			}
			d.mu.Lock()
			if want := d.wantLocal(); !equalState(want, d.local.want) {
				if err := d.syncLocal(); err != nil {
					d.log.Warn("LocalNode after an address change", "err", err)
				}
				d.publish()
			}
			d.mu.Unlock()
		}
	}()

	return func() {
		cancel()
		wg.Wait()
		d.mu.Lock()
		d.closeTap()
		d.mu.Unlock()
		for _, s := range txs {
			s.Close()
		}
		restoreARP()
	}, nil
}

func equalState(a, b localnode.State) bool {
	eq := func(x, y []netip.Addr) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return eq(a.VIPs, b.VIPs) && eq(a.MasqRIPs, b.MasqRIPs)
}

// localDestConfig is destConfig once it is known whether the address is
// local to the director.
func localDestConfig(s control.DestSpec, local bool) (balancer.DestConfig, error) {
	m := s.Method
	switch {
	case local && m != balancer.MethodMasq:
		m = balancer.MethodLocal
	case !local && m == balancer.MethodLocal:
		return balancer.DestConfig{}, control.BadRequest("real server %s is not local to the director", s.Addr)
	}
	return balancer.DestConfig{Addr: s.Addr, Port: s.Port, Method: m, Weight: s.Weight}, nil
}
