package realserver_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/internal/lab"
	"github.com/govs-lb/govs/internal/realserver"
)

var (
	vip       = netip.MustParseAddr("198.51.100.10")
	vipBefore = netip.MustParseAddr("198.51.100.20") // on lo before Run: must stay
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sysctls Run touches (conf/govstun0 disappears with the device).
var watched = []string{
	"net/ipv4/conf/all/arp_ignore", "net/ipv4/conf/all/arp_announce",
	"net/ipv4/conf/eth0/arp_ignore", "net/ipv4/conf/eth0/arp_announce",
	"net/ipv4/conf/all/rp_filter",
}

type state struct {
	sysctl map[string]string
	lo     []netip.Addr
	tun    bool
}

func snapshot(t *testing.T, h *lab.Host) state {
	t.Helper()
	s := state{sysctl: map[string]string{}}
	for _, k := range watched {
		v, err := h.ReadSysctl(k)
		must(t, err)
		s.sysctl[k] = v
	}
	ifi, err := h.Interface("lo")
	must(t, err)
	must(t, h.Do(func() error {
		addrs, err := ifi.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				s.lo = append(s.lo, p.Addr())
			}
		}
		return err
	}))
	_, err = h.Ifindex(realserver.DefaultTunName)
	s.tun = err == nil
	return s
}

// icmpOutDestUnreachs reads Icmp OutDestUnreachs of h's namespace.
func icmpOutDestUnreachs(t *testing.T, h *lab.Host) int {
	t.Helper()
	var n = -1
	must(t, h.Do(func() error {
		f, err := os.Open("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		defer f.Close()
		var names []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || fields[0] != "Icmp:" {
				continue
			}
			if names == nil {
				names = fields
				continue
			}
			if i := slices.Index(names, "OutDestUnreachs"); i > 0 {
				n, err = strconv.Atoi(fields[i])
				return err
			}
		}
		return errors.New("no Icmp OutDestUnreachs in snmp")
	}))
	return n
}

// ipip builds director -> rs1 IPIP carrying client:4000 -> dst:5000 UDP.
func ipip(t *testing.T, innerDst netip.Addr, payload string) []byte {
	t.Helper()
	outer := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolIPv4,
		SrcIP: lab.DirectorRSSideAddr.Addr().AsSlice(), DstIP: lab.RealserverAddr(1).Addr().AsSlice()}
	inner := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: lab.ClientAddr.Addr().AsSlice(), DstIP: innerDst.AsSlice()}
	udp := &layers.UDP{SrcPort: 4000, DstPort: 5000}
	must(t, udp.SetNetworkLayerForChecksum(inner))
	buf := gopacket.NewSerializeBuffer()
	must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		outer, inner, udp, gopacket.Payload(payload)))
	return buf.Bytes()
}

// rawSender opens an IPPROTO_RAW (header included) socket inside h.
func rawSender(t *testing.T, h *lab.Host) func(pkt []byte) {
	t.Helper()
	var fd int
	must(t, h.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	}))
	t.Cleanup(func() { unix.Close(fd) })
	to := &unix.SockaddrInet4{Addr: lab.RealserverAddr(1).Addr().As4()}
	return func(pkt []byte) { must(t, unix.Sendto(fd, pkt, 0, to)) }
}

type runner struct {
	stop  context.CancelFunc
	errc  chan error
	stats realserver.Stats
}

// start runs realserver.Run inside h and waits until it is ready.
func start(t *testing.T, ctx context.Context, h *lab.Host, cfg realserver.Config) *runner {
	t.Helper()
	r := &runner{errc: make(chan error, 1)}
	runCtx, stop := context.WithCancel(ctx)
	r.stop = stop
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	cfg.Stats = &r.stats
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { r.errc <- h.Do(func() error { return realserver.Run(runCtx, cfg, log) }) }()
	t.Cleanup(func() { stop() })
	select {
	case <-ready:
	case err := <-r.errc:
		t.Fatalf("Run returned before ready: %v", err)
	case <-ctx.Done():
		t.Fatal("Run not ready before the deadline")
	}
	return r
}

func (r *runner) wait(t *testing.T, ctx context.Context) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunTun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	l := lab.NewT(t)
	topo, err := lab.BasicDR(l, 1)
	must(t, err)
	rs, dir, client := topo.Realservers[0], topo.Director, topo.Client

	must(t, rs.AddAddr("lo", vipBefore.String()+"/32"))
	must(t, rs.Sysctl("net.ipv4.conf.eth0.arp_announce", "1"))
	must(t, rs.Sysctl("net.ipv4.conf.all.rp_filter", "2"))
	before := snapshot(t, rs)

	r := start(t, ctx, rs, realserver.Config{Iface: "eth0", VIPs: []netip.Addr{vip, vipBefore}, Tun: true})

	during := snapshot(t, rs)
	wantDuring := map[string]string{
		"net/ipv4/conf/all/arp_ignore": "1", "net/ipv4/conf/all/arp_announce": "2",
		"net/ipv4/conf/eth0/arp_ignore": "1", "net/ipv4/conf/eth0/arp_announce": "2",
		"net/ipv4/conf/all/rp_filter": "0",
	}
	for k, want := range wantDuring {
		if during.sysctl[k] != want {
			t.Errorf("while running %s = %s, want %s", k, during.sysctl[k], want)
		}
	}
	if !slices.Contains(during.lo, vip) || !slices.Contains(during.lo, vipBefore) {
		t.Errorf("while running lo has %v, want %v and %v", during.lo, vip, vipBefore)
	}
	if !during.tun {
		t.Errorf("while running no %s", realserver.DefaultTunName)
	}
	if v, err := rs.ReadSysctl("net/ipv4/conf/" + realserver.DefaultTunName + "/rp_filter"); err != nil || v != "0" {
		t.Errorf("%s rp_filter = %q, %v; want 0", realserver.DefaultTunName, v, err)
	}

	// A UDP service on the VIP inside the realserver; the client waits for
	// its answer on 192.0.2.2:4000 and reads the TTL it arrives with.
	_, err = rs.ServeUDP(netip.AddrPortFrom(vip, 5000).String(), "")
	must(t, err)
	cc, err := client.ListenUDP(netip.AddrPortFrom(lab.ClientAddr.Addr(), 4000).String())
	must(t, err)
	pc := ipv4.NewPacketConn(cc)
	must(t, pc.SetControlMessage(ipv4.FlagTTL, true))

	unreachBefore := icmpOutDestUnreachs(t, rs)
	send := rawSender(t, dir)
	notVIP := ipip(t, netip.MustParseAddr("198.51.100.99"), "not for us")
	good := ipip(t, vip, "hello")
	buf := make([]byte, 1500)
	var (
		n    int
		cm   *ipv4.ControlMessage
		from net.Addr
	)
	for {
		// In this order, so that when the answer comes the not-VIP packet
		// has been handled too.
		send(notVIP)
		send(good)
		pc.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		n, cm, from, err = pc.ReadFrom(buf)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
			t.Fatalf("no answer from %v:5000 through IPIP: %v (stats: deliver %d, not-vip %d)",
				vip, err, r.stats.Count(realserver.Deliver), r.stats.Count(realserver.DropNotVIP))
		}
	}
	if string(buf[:n]) != rs.Name {
		t.Errorf("answer %q, want %q", buf[:n], rs.Name)
	}
	if got := from.(*net.UDPAddr).AddrPort(); got != netip.AddrPortFrom(vip, 5000) {
		t.Errorf("answer from %v, want %v:5000", got, vip)
	}
	if cm == nil || cm.TTL != 64 {
		t.Errorf("answer control message %v, want TTL 64: straight from the realserver, not via the director", cm)
	}
	if after := icmpOutDestUnreachs(t, rs); after != unreachBefore {
		t.Errorf("realserver sent %d ICMP destination unreachable while decapsulating, want 0", after-unreachBefore)
	}

	r.wait(t, ctx)
	// Counted after the write to the TUN device, which may race with the
	// answer: read them once Run has returned.
	if d := r.stats.Count(realserver.Deliver); d < 1 {
		t.Errorf("delivered %d, want at least 1", d)
	}
	if d := r.stats.Count(realserver.DropNotVIP); d < 1 {
		t.Errorf("dropped as not-VIP %d, want at least 1", d)
	}
	after := snapshot(t, rs)
	for _, k := range watched {
		if after.sysctl[k] != before.sysctl[k] {
			t.Errorf("after Run %s = %s, want %s as before", k, after.sysctl[k], before.sysctl[k])
		}
	}
	if slices.Contains(after.lo, vip) {
		t.Errorf("after Run %v still on lo", vip)
	}
	if !slices.Contains(after.lo, vipBefore) {
		t.Errorf("after Run %v (there before Run) was removed from lo", vipBefore)
	}
	if after.tun {
		t.Errorf("after Run %s still exists", realserver.DefaultTunName)
	}

	// Without the raw socket the kernel answers IPIP with ICMP protocol
	// unreachable: proof that the counter above could have moved.
	var ic *icmp.PacketConn
	must(t, dir.Do(func() (err error) {
		ic, err = icmp.ListenPacket("ip4:icmp", lab.DirectorRSSideAddr.Addr().String())
		return err
	}))
	defer ic.Close()
	send(good)
	ic.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := ic.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no ICMP protocol unreachable from the realserver once Run stopped: %v", err)
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err == nil && m.Type == ipv4.ICMPTypeDestinationUnreachable && m.Code == 2 {
			break
		}
	}
	if icmpOutDestUnreachs(t, rs) <= unreachBefore {
		t.Error("OutDestUnreachs did not move for an ICMP unreachable the director received")
	}
}

func TestRunDROnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := lab.NewT(t)
	topo, err := lab.BasicDR(l, 1)
	must(t, err)
	rs := topo.Realservers[0]
	before := snapshot(t, rs)
	r := start(t, ctx, rs, realserver.Config{Iface: "eth0", VIPs: []netip.Addr{vip}})
	during := snapshot(t, rs)
	if !slices.Contains(during.lo, vip) || during.tun {
		t.Errorf("while running: lo %v (want %v), tun %v (want none)", during.lo, vip, during.tun)
	}
	if during.sysctl["net/ipv4/conf/eth0/arp_ignore"] != "1" || during.sysctl["net/ipv4/conf/all/arp_announce"] != "2" {
		t.Errorf("while running sysctls %v", during.sysctl)
	}
	if during.sysctl["net/ipv4/conf/all/rp_filter"] != before.sysctl["net/ipv4/conf/all/rp_filter"] {
		t.Error("rp_filter changed without Tun")
	}
	// The realserver answers on its VIP, e.g. to a client the director forwards to it.
	_, err = rs.ServeHTTP(netip.AddrPortFrom(vip, 80).String(), "")
	must(t, err)
	if body, err := rs.HTTPGet(ctx, "http://"+vip.String()+"/"); err != nil || body != rs.Name {
		t.Errorf("GET VIP on the realserver: %q, %v", body, err)
	}
	r.wait(t, ctx)
	after := snapshot(t, rs)
	if !maps(after.sysctl, before.sysctl) || slices.Contains(after.lo, vip) {
		t.Errorf("after Run: sysctls %v (before %v), lo %v", after.sysctl, before.sysctl, after.lo)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRunSetupFailureUndoes(t *testing.T) {
	l := lab.NewT(t)
	h, err := l.Host("rs")
	must(t, err)
	before := snapshotNoEth0(t, h)
	err = h.Do(func() error {
		return realserver.Run(context.Background(), realserver.Config{Iface: "nosuch0", VIPs: []netip.Addr{vip}, Tun: true}, nil)
	})
	if err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Fatalf("Run with a missing interface: %v, want an error naming it", err)
	}
	if after := snapshotNoEth0(t, h); !maps(after, before) {
		t.Errorf("after failed Run: %v, want %v", after, before)
	}
	ifi, err := h.Interface("lo")
	must(t, err)
	must(t, h.Do(func() error {
		addrs, err := ifi.Addrs()
		for _, a := range addrs {
			if strings.HasPrefix(a.String(), vip.String()+"/") {
				t.Errorf("VIP left on lo after failed Run")
			}
		}
		return err
	}))

	for _, cfg := range []realserver.Config{
		{},
		{VIPs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}},
		{VIPs: []netip.Addr{vip}, TunName: "averyveryverylongname"},
	} {
		// Inside h, so that a validation bug cannot touch this namespace.
		if err := h.Do(func() error { return realserver.Run(context.Background(), cfg, nil) }); err == nil {
			t.Errorf("Run(%+v): want a configuration error", cfg)
		}
	}
}

func snapshotNoEth0(t *testing.T, h *lab.Host) map[string]string {
	m := map[string]string{}
	for _, k := range []string{"net/ipv4/conf/all/arp_ignore", "net/ipv4/conf/all/arp_announce", "net/ipv4/conf/all/rp_filter"} {
		v, err := h.ReadSysctl(k)
		must(t, err)
		m[k] = v
	}
	return m
}
