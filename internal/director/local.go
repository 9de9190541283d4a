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
	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/dataplane"
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

// localState is the director's LocalNode machinery. tap and want change
// under d.mu; tapPtr is what the workers' tap sink reads.
type localState struct {
	addrs  *localnode.AddrSet
	sysctl *localnode.Sysctls // the capture interfaces' ARP settings
	want   localnode.State
	tap    *localnode.Tap
	tapPtr atomic.Pointer[localnode.Tap]

	reader     *dataplane.Worker // un-NATs masq replies read from the tap
	readerTxs  []*afpacket.Socket
	readerDone chan struct{}
	stopWatch  context.CancelFunc
}

// tapSender is every worker's transmit side towards the tap, which comes
// and goes with the services.
type tapSender struct{ d *Director }

var errNoTap = errors.New("no LocalNode tap")

func (s tapSender) SendBatch(frames [][]byte, offl []dataplane.Offload) (int, error) {
	t := s.d.local.tapPtr.Load()
	if t == nil {
		return 0, errNoTap
	}
	return t.SendBatch(frames, offl)
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
func (d *Director) publishLocal(s *dataplane.Snapshot) {
	s.Local = dataplane.LocalSnapshot{VIPs: map[[4]byte]struct{}{}, RIPs: map[[4]byte]struct{}{}}
	t := d.local.tap
	if t == nil {
		return
	}
	s.Local.Up = true
	s.Local.TapMAC = t.MAC()
	for _, a := range d.local.want.VIPs {
		s.Local.VIPs[a.As4()] = struct{}{}
	}
	for _, a := range d.local.want.MasqRIPs {
		s.Local.RIPs[a.As4()] = struct{}{}
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

// readTap runs the tap's worker until the tap is closed.
func (d *Director) readTap(t *localnode.Tap, done chan struct{}) {
	defer close(done)
	runtime.LockOSThread()
	if err := d.local.reader.ReadTap(t); !errors.Is(err, net.ErrClosed) {
		d.log.Warn("LocalNode: read tap", "err", err)
	}
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

	senders := make([]dataplane.Sender, len(d.ports))
	var txs []*afpacket.Socket
	for i, p := range d.ports {
		tx, err := afpacket.OpenTX(p.Ifindex, afpacket.Config{VnetHdr: true, QdiscBypass: true})
		if err != nil {
			for _, s := range txs {
				s.Close()
			}
			cancel()
			restoreARP()
			return nil, fmt.Errorf("send socket: %w", err)
		}
		txs = append(txs, tx)
		senders[i] = tx
	}
	d.mu.Lock()
	d.local.addrs = addrs
	d.local.readerTxs = txs
	d.local.reader = dataplane.New(d.newWorker(nil, senders, uint16(os.Getpid())))
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
