// Package director is the govs daemon: it owns VIP traffic on its
// interfaces (AF_PACKET rings, BPF filters, an nftables ingress table that
// keeps the kernel out of the way), runs the dataplane workers, answers
// ARP and ping for its VIPs, and serves the control API.
package director

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"github.com/govs-lb/govs/internal/filter"
	"github.com/govs-lb/govs/internal/nftin"
	"github.com/govs-lb/govs/internal/xdpshed"
)

// Headroom the capture rings leave in front of every frame: room for an
// IPIP outer header (and a spare VLAN tag).
const ringHeadroom = 64

// nextHops resolves where a packet to an address goes: the Ethernet
// destination, the output interface and the source address to use. The
// arp.Resolver implements it over the kernel's tables; tests use a map.
type nextHops interface {
	Resolve(dst [4]byte) (mac [6]byte, ifindex int, src [4]byte, ok bool)
}

// warmer caches the kernel's exact route for an address (arp.Resolver).
type warmer interface {
	Warm(dst [4]byte) (gw [4]byte, ifindex int, src [4]byte, ok bool)
}

// snapshot is what workers read per packet, published whole.
type snapshot struct {
	master bool
	vips   map[[4]byte]struct{}
	local  localSnap // LocalNode: the tap and what goes through it (local.go)
}

func (s *snapshot) isVIP(a [4]byte) bool {
	_, ok := s.vips[a]
	return ok
}

// Director is a running govs daemon.
type Director struct {
	cfg Config
	log *slog.Logger

	bal   *balancer.Balancer
	res   nextHops
	nft   *nftin.Table
	ports []port
	names []string

	snap atomic.Pointer[snapshot]

	mu      sync.Mutex // serialises configuration changes
	rxs     []*afpacket.Socket
	txs     []*afpacket.Socket
	workers []*worker
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

// Run is `govs run`: it parses args, runs the daemon until ctx is done or
// SIGTERM/SIGINT, and returns the exit status.
func Run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg, err := ParseFlags(args, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cfg.Check {
		return check(cfg.ConfigFile, stdout, stderr)
	}
	log := newLogger(stderr, cfg.LogLevel)
	if err := Serve(ctx, cfg, log); err != nil {
		log.Error("govs run failed", "err", err)
		fmt.Fprintln(stderr, "govs run:", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// Serve runs a director with cfg until ctx is done, then removes everything
// it added to the host and returns.
func Serve(ctx context.Context, cfg Config, log *slog.Logger) (err error) {
	d := &Director{cfg: cfg, log: log, role: cfg.Role, fanoutBase: uint16(os.Getpid() << 4)}
	if d.io, err = LoadIOTuning(); err != nil {
		return err
	}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	for _, name := range cfg.Ifaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("interface %s: not an Ethernet interface", name)
		}
		d.ports = append(d.ports, port{ifindex: ifi.Index, mac: [6]byte(ifi.HardwareAddr), mtu: ifi.MTU})
		d.names = append(d.names, name)
	}

	// The ingress table doubles as the lock: a second govs in this network
	// namespace finds it and refuses to start, unless it takes over.
	if cfg.Takeover {
		d.takenFrom, err = d.beginTakeover(ctx)
	} else {
		d.nft, err = nftin.Install(cfg.Ifaces, nftin.Rules{})
	}
	if err != nil {
		if cfg.Takeover {
			return err
		}
		if errors.Is(err, nftin.ErrExists) {
			return fmt.Errorf("another govs is already running on this host's interfaces (%w)", err)
		}
		return fmt.Errorf("install nftables ingress table: %w", err)
	}
	cleanups = append(cleanups, func() {
		if d.released.Load() || d.handBack.Load() {
			return // the ingress table is another govs's now
		}
		if err := d.nft.Remove(); err != nil {
			log.Error("remove nftables table", "err", err)
		}
	})

	var ln net.Listener // --takeover: bound once this daemon forwards
	if !cfg.Takeover {
		if ln, err = control.Listen(cfg.Socket); err != nil {
			return err
		}
		sock, err := control.Own(ln, cfg.Socket)
		if err != nil {
			ln.Close()
			return err
		}
		cleanups = append(cleanups, func() { ln.Close(); sock.Remove() })
		d.bal = balancer.New(balancer.Config{MaxConns: cfg.MaxConns, KeepQuiescentTemplates: true, DeferCounters: true})
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.runCtx = rctx
	d.stopRun = cancel
	ifindexes := make([]int, len(d.ports))
	for i, p := range d.ports {
		ifindexes[i] = p.ifindex
	}
	res, err := arp.NewResolver(rctx, ifindexes)
	if err != nil {
		return err
	}
	d.res = res
	cleanups = append(cleanups, func() { res.Close() })

	if idx := d.io.ShedIfindexes(ifindexes); cfg.Shed != "off" && len(idx) > 0 {
		if sh, err := xdpshed.OpenMode(idx, d.io.ShedMode); err != nil {
			log.Warn("XDP load shedding off: under overload the kernel will drop at the capture rings instead", "err", err)
		} else {
			d.shed = sh
			for _, p := range d.ports {
				sh.Gate(p.ifindex).SetWorkers(cfg.Workers)
			}
			log.Info("XDP load shedding on", "mode", sh.Mode(idx[0]))
			cleanups = append(cleanups, func() {
				if err := sh.Close(); err != nil {
					log.Error("remove XDP programs", "err", err)
				}
			})
		}
	}

	d.publish()
	if err := d.openSockets(); err != nil {
		return err
	}
	cleanups = append(cleanups, d.closeSockets)

	for _, name := range cfg.Ifaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		a, err := arp.Listen(ifi, arp.AnnouncerConfig{Count: cfg.GARPCount, Interval: cfg.GARPInterval})
		if err != nil {
			return fmt.Errorf("gratuitous ARP socket on %s: %w", name, err)
		}
		d.garp = append(d.garp, a)
	}
	cleanups = append(cleanups, func() {
		for _, a := range d.garp {
			a.Close()
		}
	})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, len(d.workers))
	for _, w := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			if err := d.io.ApplyThread(); err != nil {
				log.Warn("worker thread", "err", err)
			}
			if err := w.run(stop); err != nil {
				errc <- err
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
	cleanups = append(cleanups, func() {
		d.stopWorkers()
		log.Info("workers stopped", "counters", d.counters())
	})
	if d.takenFrom != nil {
		var undo func()
		if ln, undo, err = d.finishTakeover(ctx, d.takenFrom); err != nil {
			return err
		}
		cleanups = append(cleanups, undo)
	}
	var merr chan error // nil unless --metrics: never ready in the select below
	if cfg.Metrics != "" {
		merr = make(chan error, 1)
		go func() { merr <- d.serveMetrics(rctx, cfg.Metrics) }()
	}

	stopLocal, err := d.startLocal(rctx)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, stopLocal)

	if cfg.ConfigFile != "" {
		stopConfig, err := d.startConfig(rctx, cfg.ConfigFile, log)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopConfig)
	}

	srv := &http.Server{Handler: control.NewServer(&backend{d: d}, log), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	cleanups = append(cleanups, func() {
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		srv.Shutdown(sctx)
	})

	log.Info("govs running", "ifaces", cfg.Ifaces, "workers", cfg.Workers, "socket", cfg.Socket, "role", d.role)
	if err := notifyReady(); err != nil {
		log.Warn("sd_notify READY", "err", err)
	}
	select {
	case <-rctx.Done(): // ctx, or taken over (Release)
		log.Info("govs stopping", "reason", context.Cause(ctx), "taken_over", d.released.Load())
	case err := <-errc:
		return fmt.Errorf("worker: %w", err)
	case err := <-merr:
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
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
			rx, err := afpacket.Open(rxp.ifindex, d.io.CaptureConfig(d.fanoutGroup(pi), d.cfg.Workers > 1, prog))
			if err != nil {
				return fmt.Errorf("capture socket: %w", err)
			}
			d.rxs = append(d.rxs, rx)
			sinks := make([]txSink, len(d.ports))
			for i, txp := range d.ports {
				tx, err := afpacket.OpenTX(txp.ifindex, d.io.SendConfig())
				if err != nil {
					return fmt.Errorf("send socket: %w", err)
				}
				d.txs = append(d.txs, tx)
				sinks[i] = tx
			}
			seed := uint16(len(d.workers)*7919 + os.Getpid())
			w := newWorker(d, rx, d.ports, sinks, seed)
			w.backlog, w.valve = rx, xdpshed.NewValve(d.shed.Gate(rxp.ifindex), d.io.ShedHigh, d.io.ShedLow)
			d.workers = append(d.workers, w)
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

// publish rebuilds the workers' snapshot from the balancer's services.
func (d *Director) publish() {
	s := &snapshot{master: d.role == RoleMaster, vips: map[[4]byte]struct{}{}}
	var vips []netip.Addr
	for _, svc := range d.bal.Services() {
		if _, ok := s.vips[svc.Addr.As4()]; !ok {
			vips = append(vips, svc.Addr)
		}
		s.vips[svc.Addr.As4()] = struct{}{}
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
	for a := range d.snap.Load().vips {
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
	for _, a := range d.garp {
		go func() {
			ctx := d.announceCtx()
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
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		d.expireTick(monotonic())
	}
}

// expireTick is one tick of expireLoop.
func (d *Director) expireTick(now int64) {
	const minBudget = 4096
	d.bal.Expire(now, max(minBudget, d.bal.NumConns()/10))
}

// counters sums the workers' published counters by name.
func (d *Director) counters() map[string]uint64 {
	m := make(map[string]uint64, cntMax)
	for _, w := range d.workers {
		c := w.snapshotCounters()
		for i := range cntMax {
			if v := c[i]; v != 0 {
				m[counterNames[i]] += v
			}
		}
	}
	return m
}
