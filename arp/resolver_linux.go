//go:build linux

package arp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// usableStates are the NUD states whose link-layer address may be used to
// send: the kernel's NUD_VALID less NOARP (no meaningful address).
// INCOMPLETE, FAILED and NONE are not usable.
const usableStates = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT

const (
	// maxRoutes bounds the route cache; destinations past it are looked up
	// with a syscall each time (NextHop is meant for realservers and gateways).
	maxRoutes = 4096
)

// Resolver follows the kernel's IPv4 neighbour and route tables of the
// network namespace it was created in. Lookup and the cached path of NextHop
// are lock-free and do not allocate: they read immutable maps published
// through atomic pointers by one background goroutine.
type Resolver struct {
	h      *netlink.Handle
	ns     netns.NsHandle
	ifaces map[int32]bool // nil: all interfaces; immutable

	neigh  atomic.Pointer[map[[4]byte]neighbour]
	routes atomic.Pointer[map[[4]byte]route]
	lpm    atomic.Pointer[lpmTable] // main table, for destinations not warmed

	mu sync.Mutex // serialises writers of routes and netlink requests

	nmu    sync.Mutex
	notify chan struct{} // closed and replaced on every published change

	trig   chan [4]byte
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewResolver starts a Resolver for the current thread's network namespace,
// restricted to the interfaces with the given indexes (all when empty). It
// has loaded the neighbour table when it returns; it follows changes until
// ctx is cancelled or Close is called.
func NewResolver(ctx context.Context, ifindexes []int) (*Resolver, error) {
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("arp: get current netns: %w", err)
	}
	// NewHandle opens its socket in the calling thread's namespace, which is
	// ns: no setns(2), so CAP_NET_ADMIN is enough (NewHandleAt would need
	// CAP_SYS_ADMIN even to "enter" the namespace it is already in).
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("arp: netlink handle: %w", err)
	}
	r := &Resolver{h: h, ns: ns, notify: make(chan struct{}), trig: make(chan [4]byte, 256)}
	if len(ifindexes) > 0 {
		r.ifaces = make(map[int32]bool, len(ifindexes))
		for _, i := range ifindexes {
			r.ifaces[int32(i)] = true
		}
	}
	empty := map[[4]byte]neighbour{}
	r.neigh.Store(&empty)
	noRoutes := map[[4]byte]route{}
	r.routes.Store(&noRoutes)

	s, err := r.subscribe()
	if err != nil {
		h.Close()
		ns.Close()
		return nil, err
	}
	r.mu.Lock()
	lerr := r.loadLPM()
	r.mu.Unlock()
	if lerr != nil {
		s.stop()
		h.Close()
		ns.Close()
		return nil, lerr
	}
	if err := r.loadNeigh(); err != nil {
		s.stop()
		h.Close()
		ns.Close()
		return nil, err
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(2)
	go r.follow(ctx, s)
	go r.resolveLoop(ctx)
	return r, nil
}

// Close stops following the kernel and releases the netlink sockets. Lookups
// after Close still answer from the last snapshot.
func (r *Resolver) Close() error {
	r.cancel()
	r.wg.Wait()
	r.h.Close()
	return r.ns.Close()
}

// Lookup returns the MAC address and interface of ip if the kernel has a
// usable neighbour entry for it. On a miss it asks, without blocking, for
// the kernel to resolve ip and returns ok=false. It does not allocate.
func (r *Resolver) Lookup(ip [4]byte) (mac [6]byte, ifindex int, ok bool) {
	n, ok := (*r.neigh.Load())[ip]
	if !ok {
		r.trigger(ip)
		return mac, 0, false
	}
	return n.mac, int(n.ifindex), true
}

// NextHop returns the next hop for dst from the kernel's routing decision
// (RTM_GETROUTE, as `ip route get`): gw is the gateway, or dst when it is
// on-link; src is the preferred source address. ok=false for unreachable
// and local destinations and routes out of interfaces not followed. Results
// are cached and refreshed on every route change; a destination's first
// call costs one netlink round trip, later ones are lock-free and do not
// allocate, so warm it when the destination is configured.
func (r *Resolver) NextHop(dst [4]byte) (gw [4]byte, ifindex int, src [4]byte, ok bool) {
	if e, hit := (*r.routes.Load())[dst]; hit {
		return e.gw, int(e.ifindex), e.src, e.ok
	}
	// Destinations nobody warmed (masq replies to any client): the longest
	// prefix match over the main table, without a lock, a syscall or an
	// allocation.
	if t := r.lpm.Load(); t != nil {
		e := t.lookup(dst)
		return e.gw, int(e.ifindex), e.src, e.ok
	}
	return r.Warm(dst)
}

// Warm looks dst up with the kernel (RTM_GETROUTE: policy routing and all)
// and caches the answer for NextHop, up to a bound. The control plane calls
// it for realservers; route changes redo the lookups.
func (r *Resolver) Warm(dst [4]byte) (gw [4]byte, ifindex int, src [4]byte, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := *r.routes.Load()
	e, hit := m[dst]
	if !hit {
		e = r.routeGet(dst)
		if len(m) < maxRoutes {
			n := make(map[[4]byte]route, len(m)+1)
			for k, v := range m {
				n[k] = v
			}
			n[dst] = e
			r.routes.Store(&n)
		}
	}
	return e.gw, int(e.ifindex), e.src, e.ok
}

// lpmRoute is one IPv4 route of the main table, as lpmTable keeps it.
type lpmRoute struct {
	prefix, mask uint32
	bits         int
	metric       int
	route
}

// lpmTable is the main routing table sorted for longest-prefix matching
// (longest prefix first, then lowest metric). Tables are small — a handful
// of routes on a director — so a linear scan beats anything cleverer.
type lpmTable []lpmRoute

func (t lpmTable) lookup(dst [4]byte) route {
	d := binary.BigEndian.Uint32(dst[:])
	for i := range t {
		if d&t[i].mask == t[i].prefix {
			e := t[i].route
			if e.ok && e.gw == ([4]byte{}) {
				e.gw = dst // on-link
			}
			return e
		}
	}
	return route{}
}

// loadLPM reloads the local and main tables. Routes out of interfaces the Resolver
// does not follow, and unreachable/blackhole/local routes, stay in the table
// (they shadow shorter prefixes) but answer not ok. Caller holds mu.
func (r *Resolver) loadLPM() error {
	// The local table first: the host's own and broadcast addresses are
	// /32 entries there that must answer not ok.
	var rts []netlink.Route
	for _, table := range []int{unix.RT_TABLE_LOCAL, unix.RT_TABLE_MAIN} {
		t, err := r.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return fmt.Errorf("arp: list routes: %w", err)
		}
		rts = append(rts, t...)
	}
	primary := map[int32][4]byte{}
	if addrs, err := r.h.AddrList(nil, netlink.FAMILY_V4); err == nil {
		for _, a := range addrs {
			if ip := a.IP.To4(); ip != nil {
				if _, seen := primary[int32(a.LinkIndex)]; !seen {
					primary[int32(a.LinkIndex)] = [4]byte(ip)
				}
			}
		}
	}
	t := make(lpmTable, 0, len(rts))
	for _, rt := range rts {
		e := lpmRoute{metric: rt.Priority}
		if rt.Dst != nil {
			ip := rt.Dst.IP.To4()
			if ip == nil {
				continue
			}
			ones, _ := rt.Dst.Mask.Size()
			e.bits = ones
			e.mask = uint32(0xffffffff) << (32 - ones)
			if ones == 0 {
				e.mask = 0
			}
			e.prefix = binary.BigEndian.Uint32(ip) & e.mask
		}
		link, gw := rt.LinkIndex, rt.Gw
		if len(rt.MultiPath) > 0 {
			link, gw = rt.MultiPath[0].LinkIndex, rt.MultiPath[0].Gw
		}
		e.ifindex = int32(link)
		e.ok = rt.Type == unix.RTN_UNICAST && (r.ifaces == nil || r.ifaces[e.ifindex])
		if g := gw.To4(); g != nil {
			e.gw = [4]byte(g)
		}
		if src := rt.Src.To4(); src != nil {
			e.src = [4]byte(src)
		} else {
			e.src = primary[e.ifindex]
		}
		t = append(t, e)
	}
	sort.SliceStable(t, func(i, j int) bool {
		if t[i].bits != t[j].bits {
			return t[i].bits > t[j].bits
		}
		return t[i].metric < t[j].metric
	})
	r.lpm.Store(&t)
	return nil
}

func (r *Resolver) trigger(ip [4]byte) {
	select {
	case r.trig <- ip:
	default: // resolver busy; the next miss asks again
	}
}

func errNotIPv4(ip netip.Addr) error { return fmt.Errorf("arp: %v: not an IPv4 address", ip) }

// changed returns a channel closed at the next published change.
func (r *Resolver) changed() <-chan struct{} {
	r.nmu.Lock()
	defer r.nmu.Unlock()
	return r.notify
}

func (r *Resolver) publish() {
	r.nmu.Lock()
	close(r.notify)
	r.notify = make(chan struct{})
	r.nmu.Unlock()
}

// routeGet asks the kernel for its routing decision for dst. Caller holds mu.
func (r *Resolver) routeGet(dst [4]byte) route {
	rs, err := r.h.RouteGet(net.IP(dst[:]))
	if err != nil || len(rs) == 0 {
		return route{}
	}
	rt := rs[0]
	if rt.Type == unix.RTN_LOCAL || rt.Type == unix.RTN_BROADCAST || rt.Type == unix.RTN_MULTICAST ||
		(r.ifaces != nil && !r.ifaces[int32(rt.LinkIndex)]) {
		return route{}
	}
	e := route{gw: dst, ifindex: int32(rt.LinkIndex), ok: true}
	if gw := rt.Gw.To4(); gw != nil {
		copy(e.gw[:], gw)
	}
	if src := rt.Src.To4(); src != nil {
		copy(e.src[:], src)
	}
	return e
}

// refreshRoutes redoes the lookup of every cached destination.
func (r *Resolver) refreshRoutes() {
	r.mu.Lock()
	old := *r.routes.Load()
	n := make(map[[4]byte]route, len(old))
	for k := range old {
		n[k] = r.routeGet(k)
	}
	r.routes.Store(&n)
	if err := r.loadLPM(); err != nil {
		r.lpm.Store(nil) // fall back to asking the kernel
	}
	r.mu.Unlock()
	r.publish()
}

// resolveLoop serves resolution requests from Lookup misses.
func (r *Resolver) resolveLoop(ctx context.Context) {
	defer r.wg.Done()
	last := make(map[[4]byte]time.Time)
	for {
		select {
		case <-ctx.Done():
			return
		case ip := <-r.trig:
			now := time.Now()
			if t, ok := last[ip]; ok && now.Sub(t) < retrigger {
				continue
			}
			if len(last) > 4*maxRoutes {
				clear(last)
			}
			last[ip] = now
			r.solicit(ip)
		}
	}
}

// solicit makes the kernel resolve ip: it finds the interface ip is reached
// on (directly, or through the gateway to it) and sends RTM_NEWNEIGH with
// NTF_USE, which creates the entry if needed and runs neigh_event_send on
// it — the same path a locally sent packet takes — so the kernel sends the
// ARP request and retries it by its own rules (ucast/mcast_solicit). No
// packet leaves for ip itself, and an entry in FAILED is retried.
func (r *Resolver) solicit(ip [4]byte) error {
	r.mu.Lock()
	rt := r.routeGet(ip)
	if rt.ok && rt.gw != ip {
		ip = rt.gw
	}
	var err error
	if rt.ok {
		err = r.h.NeighSet(&netlink.Neigh{
			LinkIndex: int(rt.ifindex),
			Family:    netlink.FAMILY_V4,
			State:     netlink.NUD_NONE,
			Flags:     netlink.NTF_USE,
			IP:        net.IP(ip[:]),
		})
	}
	r.mu.Unlock()
	return err
}

type subscription struct {
	neigh  chan netlink.NeighUpdate
	routes chan netlink.RouteUpdate
	errs   chan error
	done   chan struct{}
}

func (s *subscription) stop() {
	close(s.done)
	// The library's readers close their channels once their sockets are
	// closed; drain so that they are never stuck sending.
	go func() {
		for range s.neigh {
		}
	}()
	go func() {
		for range s.routes {
		}
	}()
}

func (r *Resolver) subscribe() (*subscription, error) {
	s := &subscription{
		neigh:  make(chan netlink.NeighUpdate, 1024),
		routes: make(chan netlink.RouteUpdate, 256),
		errs:   make(chan error, 1),
		done:   make(chan struct{}),
	}
	onErr := func(err error) {
		select {
		case s.errs <- err:
		default:
		}
	}
	// Subscriptions open sockets in the calling thread's namespace. Name
	// the resolver's namespace only when this thread is elsewhere (it costs
	// a setns(2), which needs CAP_SYS_ADMIN); the daemon never is.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var nsOpt *netns.NsHandle
	if cur, err := netns.Get(); err != nil || !cur.Equal(r.ns) {
		ns := r.ns
		nsOpt = &ns
		if err == nil {
			cur.Close()
		}
	} else {
		cur.Close()
	}
	if err := netlink.NeighSubscribeWithOptions(s.neigh, s.done, netlink.NeighSubscribeOptions{
		Namespace: nsOpt, ErrorCallback: onErr,
	}); err != nil {
		close(s.done)
		return nil, fmt.Errorf("arp: subscribe to neighbours: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(s.routes, s.done, netlink.RouteSubscribeOptions{
		Namespace: nsOpt, ErrorCallback: onErr,
	}); err != nil {
		s.stop()
		return nil, fmt.Errorf("arp: subscribe to routes: %w", err)
	}
	return s, nil
}

// loadNeigh replaces the neighbour snapshot with a dump of the kernel table.
func (r *Resolver) loadNeigh() error {
	r.mu.Lock()
	ns, err := r.h.NeighList(0, netlink.FAMILY_V4)
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("arp: list neighbours: %w", err)
	}
	m := make(map[[4]byte]neighbour, len(ns))
	for i := range ns {
		r.apply(m, unix.RTM_NEWNEIGH, &ns[i])
	}
	r.neigh.Store(&m)
	r.publish()
	return nil
}

func (r *Resolver) apply(m map[[4]byte]neighbour, typ uint16, n *netlink.Neigh) {
	ip := n.IP.To4()
	if ip == nil || (r.ifaces != nil && !r.ifaces[int32(n.LinkIndex)]) {
		return
	}
	key := [4]byte(ip)
	if typ == unix.RTM_DELNEIGH || n.State&usableStates == 0 || len(n.HardwareAddr) != 6 {
		if cur, ok := m[key]; ok && cur.ifindex == int32(n.LinkIndex) {
			delete(m, key)
		}
		return
	}
	m[key] = neighbour{mac: [6]byte(n.HardwareAddr), ifindex: int32(n.LinkIndex)}
}

// follow applies kernel notifications until ctx is done, resubscribing and
// reloading the tables if a subscription fails (say, ENOBUFS on overflow).
func (r *Resolver) follow(ctx context.Context, s *subscription) {
	defer r.wg.Done()
	for {
		err := r.drain(ctx, s)
		s.stop()
		if err == nil {
			return
		}
		for {
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if s, err = r.subscribe(); err != nil {
				continue
			}
			if err = r.loadNeigh(); err != nil {
				s.stop()
				continue
			}
			r.refreshRoutes()
			break
		}
	}
}

var errSubscription = errors.New("arp: netlink subscription ended")

// drain returns nil when ctx is done, an error when s broke.
func (r *Resolver) drain(ctx context.Context, s *subscription) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.errs:
			return err
		case u, ok := <-s.neigh:
			if !ok {
				return errSubscription
			}
			old := *r.neigh.Load()
			m := make(map[[4]byte]neighbour, len(old)+1)
			for k, v := range old {
				m[k] = v
			}
			r.apply(m, u.Type, &u.Neigh)
			for more := len(s.neigh); more > 0; more-- {
				u, ok := <-s.neigh
				if !ok {
					break
				}
				r.apply(m, u.Type, &u.Neigh)
			}
			r.neigh.Store(&m)
			r.publish()
		case u, ok := <-s.routes:
			if !ok {
				return errSubscription
			}
			for more := len(s.routes); more > 0; more-- {
				<-s.routes
			}
			if u.Family == netlink.FAMILY_V4 || u.Family == 0 {
				r.refreshRoutes()
			}
		}
	}
}
