//go:build linux

package nftin

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/govs-lb/govs/arp"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

var (
	vip     = [4]byte{198, 51, 100, 10}
	dirIP   = [4]byte{203, 0, 113, 1}
	peerIP  = [4]byte{203, 0, 113, 2}
	peerMAC = [6]byte{0x02, 0, 0, 0, 2, 0x0b}
)

// setup: director ns with gv0 (203.0.113.1) and the VIP on lo; peer ns with
// gv1 (203.0.113.2) routing the VIP range through the director.
func setup(t *testing.T) (dir, peer string) {
	dir, peer = newNS(t, "gvnft"), newNS(t, "gvnft")
	vethPair(t, dir, "gv0", "02:00:00:00:02:0a", "203.0.113.1/24", peer, "gv1", "02:00:00:00:02:0b", "203.0.113.2/24")
	ipc(t, "-n", dir, "addr", "add", "198.51.100.10/32", "dev", "lo")
	ipc(t, "-n", peer, "route", "add", "198.51.100.0/24", "via", "203.0.113.1")
	return dir, peer
}

func install(t *testing.T, ns string, r Rules) *Table {
	var tb *Table
	mustInNS(t, ns, func() (err error) {
		tb, err = Install([]string{"gv0"}, r)
		return err
	})
	return tb
}

func connIn(t *testing.T, ns string) *nftables.Conn {
	var c *nftables.Conn
	mustInNS(t, ns, func() (err error) {
		c, err = nftables.New(nftables.AsLasting())
		return err
	})
	t.Cleanup(func() { c.CloseLasting() })
	return c
}

func udp(t *testing.T, ns string, a [4]byte, port int) *net.UDPConn {
	var c *net.UDPConn
	mustInNS(t, ns, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(a[:]), Port: port})
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, a [4]byte, port, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := c.WriteToUDP([]byte("govs"), &net.UDPAddr{IP: net.IP(a[:]), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
}

// recv returns the source port of the next datagram on c, or 0 at the deadline.
func recv(c *net.UDPConn, d time.Duration) int {
	c.SetReadDeadline(time.Now().Add(d))
	var b [64]byte
	_, from, err := c.ReadFromUDP(b[:])
	if err != nil {
		return 0
	}
	return from.Port
}

var rules = Rules{
	VIPs:        []Service{{Proto: unix.IPPROTO_UDP, Addr: vip, Port: 53}, {Proto: unix.IPPROTO_TCP, Addr: vip, Port: 80}},
	MasqReplies: []Service{{Proto: unix.IPPROTO_UDP, Addr: peerIP, Port: 8080}},
	ARPVIPs:     [][4]byte{vip},
}

func TestInstallListUpdateRemove(t *testing.T) {
	dir, _ := setup(t)
	tb := install(t, dir, rules)
	c := connIn(t, dir)

	tables, err := c.ListTablesOfFamily(nftables.TableFamilyNetdev)
	if err != nil || len(tables) != 1 || tables[0].Name != TableName {
		t.Fatalf("tables = %v, %v", tables, err)
	}
	ch, err := c.ListChain(tables[0], "ingress-gv0")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookIngress || ch.Priority == nil || *ch.Priority != Priority ||
		ch.Policy == nil || *ch.Policy != nftables.ChainPolicyAccept {
		t.Errorf("chain = %+v", ch)
	}
	// ICMP + fragments for the VIP, 2 services, 1 masq, 1 ARP.
	if rs, err := c.GetRules(tables[0], ch); err != nil || len(rs) != 6 {
		t.Fatalf("rules = %d, %v; want 6", len(rs), err)
	}

	// A second govs in the namespace is refused.
	err = inNS(dir, func() error { _, err := Install([]string{"gv0"}, rules); return err })
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Install: %v, want ErrExists", err)
	}

	if err := tb.Update(Rules{VIPs: []Service{{Proto: unix.IPPROTO_UDP, Addr: vip}}}); err != nil {
		t.Fatal(err)
	}
	if rs, err := c.GetRules(tables[0], ch); err != nil || len(rs) != 1 {
		t.Fatalf("after Update: rules = %d, %v; want 1", len(rs), err)
	}

	if err := tb.Remove(); err != nil {
		t.Fatal(err)
	}
	if tables, err := c.ListTablesOfFamily(nftables.TableFamilyNetdev); err != nil || len(tables) != 0 {
		t.Fatalf("after Remove: tables = %v, %v", tables, err)
	}
	if err := tb.Update(rules); err == nil {
		t.Fatal("Update after Remove succeeded")
	}
}

func TestDropsTraffic(t *testing.T) {
	dir, peer := setup(t)
	svc := udp(t, dir, vip, 53)     // dropped by the VIP rule
	ctl := udp(t, dir, vip, 54)     // not a service: passes
	rs := udp(t, dir, dirIP, 40000) // receives masq replies (dropped) and controls
	masq := udp(t, peer, peerIP, 8080)
	other := udp(t, peer, peerIP, 8081)
	tb := install(t, dir, rules)

	// Dropped packets go first; a control sent after them on the same path
	// proves they had their chance to arrive.
	send(t, masq, vip, 53, 5)
	send(t, masq, dirIP, 40000, 5)
	send(t, other, vip, 54, 1)
	send(t, other, dirIP, 40000, 1)
	if p := recv(ctl, 5*time.Second); p != 8081 {
		t.Fatalf("control to VIP:54 not received (port %d)", p)
	}
	if p := recv(rs, 5*time.Second); p != 8081 {
		t.Fatalf("first datagram to 203.0.113.1:40000 from port %d, want 8081 (masq reply 8080 not dropped?)", p)
	}
	if p := recv(svc, 100*time.Millisecond); p != 0 {
		t.Fatalf("VIP:53 received a datagram from port %d through the drop rule", p)
	}

	// Update moves the drop from :53 to :54.
	if err := tb.Update(Rules{VIPs: []Service{{Proto: unix.IPPROTO_UDP, Addr: vip, Port: 54}}}); err != nil {
		t.Fatal(err)
	}
	send(t, other, vip, 54, 3)
	send(t, other, vip, 53, 1)
	if p := recv(svc, 5*time.Second); p != 8081 {
		t.Fatalf("VIP:53 after Update: got port %d", p)
	}
	if p := recv(ctl, 100*time.Millisecond); p != 0 {
		t.Fatalf("VIP:54 received through the updated drop rule")
	}

	if err := tb.Remove(); err != nil {
		t.Fatal(err)
	}
	send(t, other, vip, 54, 1)
	if p := recv(ctl, 5*time.Second); p != 8081 {
		t.Fatalf("VIP:54 after Remove: got port %d", p)
	}
}

func TestDropsARPForVIP(t *testing.T) {
	dir, peer := setup(t)
	var raw *packet.Conn
	mustInNS(t, peer, func() error {
		ifi, err := net.InterfaceByName("gv1")
		if err != nil {
			return err
		}
		raw, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		return err
	})
	defer raw.Close()
	bcast := &packet.Addr{HardwareAddr: net.HardwareAddr(arp.Broadcast[:])}
	ask := func(tpa [4]byte) {
		t.Helper()
		if _, err := raw.WriteTo(arp.BuildRequest(make([]byte, arp.FrameLen), peerMAC, peerIP, tpa), bcast); err != nil {
			t.Fatal(err)
		}
	}
	// nextReply returns the sender protocol address of the next ARP reply.
	nextReply := func(d time.Duration) (netip.Addr, bool) {
		raw.SetReadDeadline(time.Now().Add(d))
		b := make([]byte, 128)
		for {
			n, _, err := raw.ReadFrom(b)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("read: %v", err)
				}
				return netip.Addr{}, false
			}
			if n >= 42 && b[20] == 0 && b[21] == arp.OpReply {
				return netip.AddrFrom4([4]byte(b[28:32])), true
			}
		}
	}

	tb := install(t, dir, rules)
	ask(vip)
	ask(dirIP)
	if a, ok := nextReply(5 * time.Second); !ok || a != netip.AddrFrom4(dirIP) {
		t.Fatalf("first ARP reply from %v (%v), want only 203.0.113.1's", a, ok)
	}
	if a, ok := nextReply(100 * time.Millisecond); ok {
		t.Fatalf("unexpected ARP reply for %v", a)
	}

	if err := tb.Remove(); err != nil {
		t.Fatal(err)
	}
	ask(vip)
	if a, ok := nextReply(5 * time.Second); !ok || a != netip.AddrFrom4(vip) {
		t.Fatalf("after Remove: reply %v %v, want the VIP's", a, ok)
	}
}
