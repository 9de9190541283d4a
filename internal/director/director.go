// Package director is the govs daemon: it owns VIP traffic on its
// interfaces (AF_PACKET rings, BPF filters, an nftables ingress table that
// keeps the kernel out of the way), runs the dataplane workers, answers
// ARP and ping for its VIPs, and serves the control API.
package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs-lb/govs/arp"
	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/dataplane"
	"github.com/govs-lb/govs/internal/filter"
	"github.com/govs-lb/govs/internal/nftin"
	"github.com/govs-lb/govs/internal/xdpshed"
)

// warmer caches the kernel's exact route for an address (arp.Resolver).
type warmer interface {
	Warm(dst [4]byte) (gw [4]byte, ifindex int, src [4]byte, ok bool)
}

// Director is a running govs daemon.
type Director struct {
	cfg Config
	log *slog.Logger

	bal   *balancer.Balancer
	res   dataplane.Resolver
	nft   *nftin.Table
	ports []dataplane.Port
	names []string

	snap atomic.Pointer[dataplane.Snapshot] // what the workers read per packet

	mu      sync.Mutex // serialises configuration changes
	rxs     []*afpacket.Socket
	txs     []*afpacket.Socket
	workers []*dataplane.Worker
	role    string
	garp    []*arp.Announcer
	vipList []netip.Addr // VIP addresses announced so far
	runCtx  context.Context
	local   localState                 // LocalNode: tap, local addresses, tap reader (local.go)
	roleCtl roleState                  // role switches: GARPs of the current mastership (role.go)
	file    atomic.Pointer[configFile] // --config: the keepalived.conf and its reconciler (configfile.go)
	io      IOTuning                   // I/O engine settings ($GOVS_IO_TUNING, iotuning.go)
	shed    *xdpshed.Shedder           // XDP load shedding; nil when off or unavailable

	// Graceful restart (takeover.go).
	fanoutBase  uint16      // PACKET_FANOUT id of the first interface
	stopWorkers func()      // stops the workers (once); nil until they run
	stopRun     func()      // makes Serve return
	released    atomic.Bool // taken over: leave the host state to the successor
	handBack    atomic.Bool // a failed takeover: leave the host state to the old daemon
	takenFrom   *takeover   // --takeover: what came from the old daemon
}

// Serve runs a director with cfg until ctx is done, then removes everything
// it added to the host and returns.
//
// Starting is a sequence of steps (serveSteps), each of which makes one
// change to the host and returns what undoes it. They run in order; when
// one fails, or once the daemon stops, the undos of those that succeeded
// run in reverse order.
func Serve(ctx context.Context, cfg Config, log *slog.Logger) (err error) {
	d := &Director{cfg: cfg, log: log, role: cfg.Role, fanoutBase: uint16(os.Getpid() << 4), io: cfg.IO}
	var undos []func()
	defer func() {
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
	}()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel() // first: the daemon's goroutines stop before the undos
	d.runCtx = rctx
	d.stopRun = cancel

	r := &serving{d: d, ctx: ctx}
	for _, step := range r.steps() {
		undo, err := step()
		if err != nil {
			return err
		}
		if undo != nil {
			undos = append(undos, undo)
		}
	}

	log.Info("govs running", "ifaces", cfg.Ifaces, "workers", cfg.Workers, "socket", cfg.Socket, "role", d.role)
	if err := notifyReady(); err != nil {
		log.Warn("sd_notify READY", "err", err)
	}
	select {
	case <-rctx.Done(): // ctx, or taken over (Release)
		log.Info("govs stopping", "reason", context.Cause(ctx), "taken_over", d.released.Load())
	case err := <-r.errc:
		return fmt.Errorf("worker: %w", err)
	case err := <-r.merr:
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// serving is what the steps of Serve hand on to each other.
type serving struct {
	d   *Director
	ctx context.Context // Serve's: the takeover's exchanges with the old daemon follow it

	ln   net.Listener // the control socket: bound by listenControl, or by finishTakeover
	errc chan error   // a worker that failed
	merr chan error   // the metrics server that failed; nil (never ready) without --metrics
}

// steps are the steps of Serve in the order they run. Each returns what
// undoes it (nil for nothing) and an error; a step that fails leaves
// undone nothing it did.
func (r *serving) steps() []func() (func(), error) {
	return []func() (func(), error){
		r.findPorts,
		r.claimIngress,
		r.listenControl,
		r.startResolver,
		r.startShedding,
		r.openCapture,
		r.openAnnouncers,
		r.startWorkers,
		r.finishTakeover,
		r.startMetrics,
		r.startLocal,
		r.startConfig,
		r.serveControl,
	}
}

// findPorts resolves the interfaces of the command line.
func (r *serving) findPorts() (func(), error) {
	d := r.d
	for _, name := range d.cfg.Ifaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", name, err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return nil, fmt.Errorf("interface %s: not an Ethernet interface", name)
		}
		d.ports = append(d.ports, dataplane.Port{Ifindex: ifi.Index, MAC: [6]byte(ifi.HardwareAddr), MTU: ifi.MTU})
		d.names = append(d.names, name)
	}
	return nil, nil
}

// claimIngress installs the nftables ingress table, or with --takeover
// gets the old daemon's state and adopts its table. The table doubles as
// the lock: a second govs in this network namespace finds it and refuses
// to start, unless it takes over.
func (r *serving) claimIngress() (func(), error) {
	d := r.d
	var err error
	if d.cfg.Takeover {
		if d.takenFrom, err = d.beginTakeover(r.ctx); err != nil {
			return nil, err
		}
	} else if d.nft, err = nftin.Install(d.cfg.Ifaces, nftin.Rules{}); err != nil {
		if errors.Is(err, nftin.ErrExists) {
			return nil, fmt.Errorf("another govs is already running on this host's interfaces (%w)", err)
		}
		return nil, fmt.Errorf("install nftables ingress table: %w", err)
	}
	return func() {
		if d.released.Load() || d.handBack.Load() {
			return // the ingress table is another govs's now
		}
		if err := d.nft.Remove(); err != nil {
			d.log.Error("remove nftables table", "err", err)
		}
	}, nil
}

// listenControl binds the control socket and makes the balancer; with
// --takeover both come later (finishTakeover) and earlier (beginTakeover).
func (r *serving) listenControl() (func(), error) {
	d := r.d
	if d.cfg.Takeover {
		return nil, nil
	}
	ln, err := control.Listen(d.cfg.Socket)
	if err != nil {
		return nil, err
	}
	sock, err := control.Own(ln, d.cfg.Socket)
	if err != nil {
		ln.Close()
		return nil, err
	}
	r.ln = ln
	d.bal = balancer.New(balancer.Config{MaxConns: d.cfg.MaxConns, KeepQuiescentTemplates: true})
	return func() { ln.Close(); sock.Remove() }, nil
}

// ifindexes are the indexes of the director's interfaces.
func (d *Director) ifindexes() []int {
	idx := make([]int, len(d.ports))
	for i, p := range d.ports {
		idx[i] = p.Ifindex
	}
	return idx
}

// startResolver follows the kernel's neighbours and routes.
func (r *serving) startResolver() (func(), error) {
	d := r.d
	res, err := arp.NewResolver(d.runCtx, d.ifindexes())
	if err != nil {
		return nil, err
	}
	d.res = res
	return func() { res.Close() }, nil
}

// startShedding attaches the XDP load-shedding programs, unless --shed off
// or $GOVS_IO_TUNING turns them off; where they cannot be attached the
// director runs without.
func (r *serving) startShedding() (func(), error) {
	d := r.d
	idx := d.io.ShedIfindexes(d.ifindexes())
	if d.cfg.Shed == "off" || len(idx) == 0 {
		return nil, nil
	}
	sh, err := xdpshed.OpenMode(idx, d.io.ShedMode)
	if err != nil {
		d.log.Warn("XDP load shedding off: under overload the kernel will drop at the capture rings instead", "err", err)
		return nil, nil
	}
	d.shed = sh
	for _, p := range d.ports {
		sh.Gate(p.Ifindex).SetWorkers(d.cfg.Workers)
	}
	d.log.Info("XDP load shedding on", "mode", sh.Mode(idx[0]))
	return func() {
		if err := sh.Close(); err != nil {
			d.log.Error("remove XDP programs", "err", err)
		}
	}, nil
}

// openCapture publishes the first snapshot and opens the capture and send
// sockets of the workers.
func (r *serving) openCapture() (func(), error) {
	r.d.publish()
	if err := r.d.openSockets(); err != nil {
		return nil, err
	}
	return r.d.closeSockets, nil
}

// openAnnouncers opens a gratuitous ARP socket on each interface.
func (r *serving) openAnnouncers() (func(), error) {
	d := r.d
	for _, name := range d.cfg.Ifaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", name, err)
		}
		a, err := arp.Listen(ifi, arp.AnnouncerConfig{Count: d.cfg.GARPCount, Interval: d.cfg.GARPInterval})
		if err != nil {
			return nil, fmt.Errorf("gratuitous ARP socket on %s: %w", name, err)
		}
		d.garp = append(d.garp, a)
	}
	return func() {
		for _, a := range d.garp {
			a.Close()
		}
	}, nil
}

// startWorkers starts the dataplane workers, each on its own OS thread,
// and the connection table's expiry and the rate estimators.
func (r *serving) startWorkers() (func(), error) {
	d := r.d
	stop := make(chan struct{})
	var wg sync.WaitGroup
	r.errc = make(chan error, len(d.workers))
	for _, w := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			if err := d.io.ApplyThread(); err != nil {
				d.log.Warn("worker thread", "err", err)
			}
			if err := w.Run(stop); err != nil {
				r.errc <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.expireLoop(stop)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.estimatorLoop(stop)
	}()
	d.mu.Lock()
	d.stopWorkers = sync.OnceFunc(func() { close(stop); wg.Wait() })
	d.mu.Unlock()
	return func() {
		d.stopWorkers()
		d.log.Info("workers stopped", "counters", d.counters())
	}, nil
}

// finishTakeover ends a takeover once this daemon forwards (takeover.go).
func (r *serving) finishTakeover() (func(), error) {
	d := r.d
	if d.takenFrom == nil {
		return nil, nil
	}
	ln, undo, err := d.finishTakeover(r.ctx, d.takenFrom)
	if err != nil {
		return nil, err
	}
	r.ln = ln
	return undo, nil
}

// startMetrics serves Prometheus metrics (--metrics) until the daemon stops.
func (r *serving) startMetrics() (func(), error) {
	d := r.d
	if d.cfg.Metrics == "" {
		return nil, nil
	}
	r.merr = make(chan error, 1)
	go func() { r.merr <- d.serveMetrics(d.runCtx, d.cfg.Metrics) }()
	return nil, nil
}

// startLocal prepares LocalNode and the ARP settings (local.go).
func (r *serving) startLocal() (func(), error) {
	return r.d.startLocal(r.d.runCtx)
}

// startConfig applies --config and follows SIGHUP (configfile.go).
func (r *serving) startConfig() (func(), error) {
	d := r.d
	if d.cfg.ConfigFile == "" {
		return nil, nil
	}
	return d.startConfig(d.runCtx, d.cfg.ConfigFile, d.log)
}

// serveControl serves the control API on the control socket.
func (r *serving) serveControl() (func(), error) {
	d := r.d
	srv := &http.Server{Handler: control.NewServer(&backend{d: d}, d.log), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(r.ln)
	return func() {
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}, nil
}

// fanoutGroup is a PACKET_FANOUT id for the i-th interface, distinct for
// each interface of this process (ids are per network namespace; a group
// binds to one interface) and from the ids of a govs it takes over.
func (d *Director) fanoutGroup(i int) uint16 {
	return d.fanoutBase + uint16(i)
}

func (d *Director) openSockets() error {
	prog, err := filter.Build(d.filterSpec())
	if err != nil {
		return err
	}
	for pi, rxp := range d.ports {
		for range d.cfg.Workers {
			rx, err := afpacket.Open(rxp.Ifindex, d.io.CaptureConfig(d.fanoutGroup(pi), d.cfg.Workers > 1, prog))
			if err != nil {
				return fmt.Errorf("capture socket: %w", err)
			}
			d.rxs = append(d.rxs, rx)
			txs := make([]dataplane.Sender, len(d.ports))
			for i, txp := range d.ports {
				tx, err := afpacket.OpenTX(txp.Ifindex, d.io.SendConfig())
				if err != nil {
					return fmt.Errorf("send socket: %w", err)
				}
				d.txs = append(d.txs, tx)
				txs[i] = tx
			}
			seed := uint16(len(d.workers)*7919 + os.Getpid())
			w := d.newWorker(dataplane.NewAFPacketRx(rx, d.io.BatchFrames()), txs, seed)
			w.Backlog, w.Valve = rx, xdpshed.NewValve(d.shed.Gate(rxp.Ifindex), d.io.ShedHigh, d.io.ShedLow)
			d.workers = append(d.workers, dataplane.New(w))
		}
	}
	return nil
}

func (d *Director) closeSockets() {
	for _, s := range d.rxs {
		s.Close()
	}
	for _, s := range d.txs {
		s.Close()
	}
}

// filterSpec is what the capture filter must pass for the current services.
func (d *Director) filterSpec() filter.Spec {
	spec := filter.Spec{ARP: true, ICMP: true}
	for _, s := range d.bal.Services() {
		spec.VIPs = append(spec.VIPs, filter.Service{Proto: filter.Proto(s.Proto), Addr: s.Addr, Port: s.Port})
		for _, ds := range s.Dests {
			if ds.Method == balancer.MethodMasq {
				spec.Masq = append(spec.Masq, filter.Service{Proto: filter.Proto(s.Proto), Addr: ds.Addr, Port: ds.Port})
			}
		}
	}
	return spec
}

func (d *Director) nftRules() nftin.Rules {
	var r nftin.Rules
	seen := map[[4]byte]bool{}
	for _, s := range d.bal.Services() {
		a := s.Addr.As4()
		r.VIPs = append(r.VIPs, nftin.Service{Proto: uint8(s.Proto), Addr: a, Port: s.Port})
		if !seen[a] {
			seen[a] = true
			r.ARPVIPs = append(r.ARPVIPs, a)
		}
		for _, ds := range s.Dests {
			if ds.Method == balancer.MethodMasq {
				r.MasqReplies = append(r.MasqReplies, nftin.Service{Proto: uint8(s.Proto), Addr: ds.Addr.As4(), Port: ds.Port})
			}
		}
	}
	return r
}

// newWorker is the configuration of a dataplane worker on the director's
// interfaces, balancer, snapshot and next hops, receiving from rx (nil for
// the tap's worker) and sending through txs.
func (d *Director) newWorker(rx dataplane.Receiver, txs []dataplane.Sender, seed uint16) dataplane.Config {
	return dataplane.Config{
		Rx:          rx,
		Ports:       d.ports,
		Tx:          txs,
		Tap:         tapSender{d: d},
		Balancer:    d.bal.NewWorker(),
		Snapshot:    &d.snap,
		Resolver:    d.res,
		BatchFrames: d.io.BatchFrames(),
		SendBatch:   d.io.SendBatchFrames(),
		Seed:        seed,
	}
}

// publish rebuilds the workers' snapshot from the balancer's services.
func (d *Director) publish() {
	s := &dataplane.Snapshot{Master: d.role == RoleMaster, VIPs: map[[4]byte]struct{}{}}
	var vips []netip.Addr
	for _, svc := range d.bal.Services() {
		if _, ok := s.VIPs[svc.Addr.As4()]; !ok {
			vips = append(vips, svc.Addr)
		}
		s.VIPs[svc.Addr.As4()] = struct{}{}
	}
	d.publishLocal(s)
	d.snap.Store(s)
	if d.shed != nil {
		if err := d.shed.SetVIPs(vips); err != nil {
			d.log.Warn("XDP load shedding: VIP map", "err", err)
		}
	}
}

// reconfigure brings filters, the ingress table, the snapshot and ARP
// announcements in line with the balancer after a configuration change.
// Called with d.mu held.
func (d *Director) reconfigure() error {
	prog, err := filter.Build(d.filterSpec())
	if err != nil {
		return err
	}
	// Order matters: the filter passes new VIP traffic to govs before the
	// ingress table takes it from the kernel.
	for _, rx := range d.rxs {
		if err := rx.SetBPF(prog); err != nil {
			return err
		}
	}
	if err := d.syncLocal(); err != nil {
		return err
	}
	d.publish()
	if err := d.nft.Update(d.nftRules()); err != nil {
		return err
	}
	d.announceNew()
	d.warmNextHops()
	return nil
}

// warmNextHops asks for the next hop of every realserver now, so the
// kernel resolves it before the first connection needs it.
func (d *Director) warmNextHops() {
	if d.res == nil {
		return
	}
	for _, s := range d.bal.Services() {
		for _, ds := range s.Dests {
			if ds.Method == balancer.MethodLocal {
				continue
			}
			if w, ok := d.res.(warmer); ok {
				w.Warm(ds.Addr.As4()) // an exact, policy-aware route for realservers
			}
			d.res.Resolve(ds.Addr.As4())
		}
	}
}

// announceNew sends gratuitous ARPs for VIP addresses not announced yet.
func (d *Director) announceNew() {
	if d.role != RoleMaster || d.cfg.GARPCount == 0 {
		return
	}
	var fresh []netip.Addr
	var all []netip.Addr
	for a := range d.snap.Load().VIPs {
		addr := netip.AddrFrom4(a)
		all = append(all, addr)
		if !slices.Contains(d.vipList, addr) {
			fresh = append(fresh, addr)
		}
	}
	d.vipList = all
	if len(fresh) == 0 {
		return
	}
	ctx := d.announceCtx() // under d.mu, as a role switch replaces it
	for _, a := range d.garp {
		go func() {
			if err := a.Announce(ctx, fresh); err != nil && ctx.Err() == nil {
				d.log.Warn("gratuitous ARP", "err", err)
			}
		}()
	}
}

// expireLoop sweeps the connection table a slice at a time, so expiry
// never stops the world and the per-packet path does none of it.
//
// Each 50 ms tick examines a tenth of the table's entries (at least 4096
// slots), so the whole table is swept about twice a second however large it
// grows: expiry keeps up with any connection rate the table can hold, in
// slices short enough (the balancer locks one shard for at most 256 slots
// at a time) that the packet path never waits long.
func (d *Director) expireLoop(stop <-chan struct{}) {
	every(stop, 50*time.Millisecond, func() { d.expireTick(dataplane.Monotonic()) })
}

// every calls f every interval until stop is closed.
func every(stop <-chan struct{}, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			f()
		}
	}
}

// expireTick is one tick of expireLoop.
func (d *Director) expireTick(now int64) {
	const minBudget = 4096
	d.bal.Expire(now, max(minBudget, d.bal.NumConns()/10))
}

// counters sums the workers' published counters by name.
func (d *Director) counters() map[string]uint64 {
	var sum dataplane.Counters
	for _, w := range d.workers {
		c := w.Counters()
		sum.Add(&c)
	}
	return sum.Named()
}
