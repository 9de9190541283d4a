package localnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/internal/afpacket"
)

// Tap is govs's tap device and what goes with it: its /32 VIPs, the policy
// routing of local masq replies and the sysctls the host stack needs.
// SendBatch and ReadFrame may be called concurrently with each other and
// with Sync; Close makes them fail with net.ErrClosed.
type Tap struct {
	cfg  Config
	f    *os.File // non-blocking, in the runtime poller: Close wakes ReadFrame
	fd   int      // f's descriptor, for writev; used only under mu.RLock
	link netlink.Link
	mac  [6]byte

	mu     sync.RWMutex // write lock: closing, state changes; read lock: writes
	closed bool
	state  State // what Sync has applied
}

// Open creates the tap (not persistent: it disappears with govs), prepares
// the host stack for it and brings it up. The caller must Close it.
func Open(cfg Config) (t *Tap, err error) {
	cfg = cfg.withDefaults()
	if err := ValidName(cfg.Name); err != nil {
		return nil, err
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err}
	}
	ifr, err := unix.NewIfreq(cfg.Name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("localnode: create tap %s: %w", cfg.Name, os.NewSyscallError("ioctl(TUNSETIFF)", err))
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, afpacket.VnetHdrLen); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("localnode: tap %s: %w", cfg.Name, os.NewSyscallError("ioctl(TUNSETVNETHDRSZ)", err))
	}
	t = &Tap{cfg: cfg, f: os.NewFile(uintptr(fd), "/dev/net/tun:"+cfg.Name), fd: fd}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if t.link, err = netlink.LinkByName(cfg.Name); err != nil {
		return nil, fmt.Errorf("localnode: tap %s: %w", cfg.Name, err)
	}
	if hw := t.link.Attrs().HardwareAddr; len(hw) == 6 {
		t.mac = [6]byte(hw)
	}
	// IPv6 would chatter (MLD, DAD) and has nothing to do here.
	if err := cfg.Sysctls.Write("net/ipv6/conf/"+cfg.Name+"/disable_ipv6", "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, kv := range [][2]string{
		{"rp_filter", "2"},      // loose: the client is routed elsewhere
		{"route_localnet", "1"}, // 127.0.0.0/8 realservers
	} {
		if err := cfg.Sysctls.Write(ConfKey(cfg.Name, kv[0]), kv[1]); err != nil {
			return nil, err
		}
	}
	if err := cfg.Sysctls.NotStrictRPFilter(ConfKey("all", "rp_filter")); err != nil {
		return nil, err
	}
	if err := netlink.LinkSetARPOff(t.link); err != nil {
		return nil, fmt.Errorf("localnode: tap %s: arp off: %w", cfg.Name, err)
	}
	if err := netlink.LinkSetUp(t.link); err != nil {
		return nil, fmt.Errorf("localnode: tap %s: up: %w", cfg.Name, err)
	}
	// Rules left by a govs that was killed point to our table: remove them.
	t.deleteRules(nil)
	_, all, _ := net.ParseCIDR("0.0.0.0/0")
	if err := netlink.RouteReplace(&netlink.Route{
		LinkIndex: t.link.Attrs().Index, Dst: all, Table: cfg.Table, Scope: netlink.SCOPE_LINK,
	}); err != nil {
		return nil, fmt.Errorf("localnode: route default dev %s table %d: %w", cfg.Name, cfg.Table, err)
	}
	return t, nil
}

// Name, Index and MAC describe the tap.
func (t *Tap) Name() string  { return t.cfg.Name }
func (t *Tap) Index() int    { return t.link.Attrs().Index }
func (t *Tap) MAC() [6]byte  { return t.mac }
func (t *Tap) Table() int    { return t.cfg.Table }
func (t *Tap) Priority() int { return t.cfg.Priority }

// State returns what Sync has applied.
func (t *Tap) State() State {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.state
}

func host32(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}
}

// Sync makes the tap's addresses and the masq rules match s. It goes on
// past failures and reports them all; what failed is tried again by the
// next Sync.
func (t *Tap) Sync(s State) error {
	s = s.Normalize()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return net.ErrClosed
	}
	var errs []error
	addV, delV := diff(t.state.VIPs, s.VIPs)
	addR, delR := diff(t.state.MasqRIPs, s.MasqRIPs)
	applied := State{}
	for _, a := range t.state.VIPs {
		if !contains(delV, a) {
			applied.VIPs = append(applied.VIPs, a)
		}
	}
	for _, a := range delV {
		if err := netlink.AddrDel(t.link, &netlink.Addr{IPNet: host32(a)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("localnode: delete %s/32 from %s: %w", a, t.cfg.Name, err))
			applied.VIPs = append(applied.VIPs, a)
		}
	}
	for _, a := range addV {
		err := netlink.AddrAdd(t.link, &netlink.Addr{IPNet: host32(a)})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("localnode: add %s/32 to %s: %w", a, t.cfg.Name, err))
			continue
		}
		applied.VIPs = append(applied.VIPs, a)
	}
	for _, a := range t.state.MasqRIPs {
		if !contains(delR, a) {
			applied.MasqRIPs = append(applied.MasqRIPs, a)
		}
	}
	for _, a := range delR {
		if err := netlink.RuleDel(t.rule(a)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("localnode: delete rule from %s: %w", a, err))
			applied.MasqRIPs = append(applied.MasqRIPs, a)
		}
	}
	for _, a := range addR {
		if err := netlink.RuleAdd(t.rule(a)); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("localnode: add rule from %s lookup %d: %w", a, t.cfg.Table, err))
			continue
		}
		applied.MasqRIPs = append(applied.MasqRIPs, a)
	}
	t.state = applied.Normalize()
	return errors.Join(errs...)
}

func contains(s []netip.Addr, a netip.Addr) bool {
	for _, b := range s {
		if a == b {
			return true
		}
	}
	return false
}

// rule is "from a lookup Table priority Priority".
func (t *Tap) rule(a netip.Addr) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = unix.AF_INET
	r.Src = host32(a)
	r.Table = t.cfg.Table
	r.Priority = t.cfg.Priority
	return r
}

// deleteRules deletes every IPv4 rule that looks up the tap's table, or
// only those from the addresses in only when it is not nil.
func (t *Tap) deleteRules(only []netip.Addr) error {
	rules, err := netlink.RuleListFiltered(unix.AF_INET, &netlink.Rule{Table: t.cfg.Table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("localnode: list rules: %w", err)
	}
	var errs []error
	for i := range rules {
		r := &rules[i]
		if only != nil {
			if r.Src == nil {
				continue
			}
			a, ok := netip.AddrFromSlice(r.Src.IP)
			if !ok || !contains(only, a.Unmap()) {
				continue
			}
		}
		if err := netlink.RuleDel(r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("localnode: delete %v: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// SendBatch writes frames into the host stack through the tap, each with
// its virtio-net header (checksum offload and GSO stay with the kernel). It
// returns how many were written and the first error. It does not allocate.
func (t *Tap) SendBatch(frames [][]byte, hdrs []afpacket.VnetHdr) (int, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return 0, net.ErrClosed
	}
	for i, fr := range frames {
		var h afpacket.VnetHdr
		if i < len(hdrs) {
			h = hdrs[i]
		}
		if err := t.writeFrame(fr, &h); err != nil {
			return i, err
		}
	}
	return len(frames), nil
}

// writeFrame is writev(header, frame) with the iovecs on the stack.
func (t *Tap) writeFrame(frame []byte, h *afpacket.VnetHdr) error {
	if len(frame) == 0 {
		return nil
	}
	var hdr [afpacket.VnetHdrLen]byte
	h.Encode(hdr[:])
	var iov [2]unix.Iovec
	iov[0].Base = &hdr[0]
	iov[0].SetLen(len(hdr))
	iov[1].Base = &frame[0]
	iov[1].SetLen(len(frame))
	for {
		_, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(t.fd), uintptr(unsafe.Pointer(&iov[0])), 2)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return &net.OpError{Op: "write", Net: "tap", Err: os.NewSyscallError("writev", e)}
	}
}

// ReadFrame reads one frame the host stack sent out of the tap into buf:
// afpacket.VnetHdrLen bytes of virtio-net header, then the Ethernet frame.
// It blocks until a frame comes or the tap is closed (net.ErrClosed).
func (t *Tap) ReadFrame(buf []byte) (int, error) {
	n, err := t.f.Read(buf)
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return 0, net.ErrClosed
		}
		return 0, &net.OpError{Op: "read", Net: "tap", Err: err}
	}
	return n, nil
}

// Close deletes the rules, closes the tap (which takes its addresses and
// routes with it) and restores the sysctls it changed.
func (t *Tap) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.state = State{}
	t.mu.Unlock()
	var errs []error
	if t.link != nil {
		errs = append(errs, t.deleteRules(nil))
	}
	errs = append(errs, t.f.Close())
	errs = append(errs, t.cfg.Sysctls.Restore())
	return errors.Join(errs...)
}

// Watch fills s with the host's IPv4 addresses and keeps it current over
// netlink until ctx is done.
func (s *AddrSet) Watch(ctx context.Context) error {
	ch := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	if err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	}); err != nil {
		close(done)
		return fmt.Errorf("localnode: subscribe to address changes: %w", err)
	}
	// The dump the subscription asked for arrives asynchronously; read the
	// addresses now too, so that the set is right when Watch returns.
	addrs, err := netlink.AddrList(nil, unix.AF_INET)
	if err != nil {
		close(done)
		for range ch {
		}
		return fmt.Errorf("localnode: list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			s.Update(ip, a.LinkIndex, true)
		}
	}
	go func() {
		<-ctx.Done()
		close(done)
	}()
	go func() {
		for u := range ch {
			if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok {
				s.Update(ip, u.LinkIndex, u.NewAddr)
			}
		}
	}()
	return nil
}
