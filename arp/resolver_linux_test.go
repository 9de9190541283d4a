//go:build linux

package arp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

const (
	macDirector = "02:00:00:00:01:0a"
	macPeer     = "02:00:00:00:01:0b"
)

var (
	ipDirector = [4]byte{203, 0, 113, 1}
	ipPeer     = [4]byte{203, 0, 113, 2}
)

// pair makes a director namespace with veth "gv0" (203.0.113.1) and a peer
// namespace with "gv1" (203.0.113.2); it returns their names and gv0's index.
func pair(t *testing.T) (dir, peer string, ifindex int) {
	dir, peer = newNS(t, "gvarp"), newNS(t, "gvarp")
	vethPair(t, dir, "gv0", macDirector, "203.0.113.1/24", peer, "gv1", macPeer, "203.0.113.2/24")
	mustInNS(t, dir, func() error {
		ifi, err := net.InterfaceByName("gv0")
		if err == nil {
			ifindex = ifi.Index
		}
		return err
	})
	return dir, peer, ifindex
}

func mac(t *testing.T, s string) [6]byte {
	hw, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return [6]byte(hw)
}

// waitFor waits, without polling, until cond holds after some published change.
func waitFor(t *testing.T, ctx context.Context, r *Resolver, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(retrigger)
	defer tick.Stop()
	for {
		ch := r.changed()
		if cond() {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-ch:
		case <-tick.C: // lets cond retrigger resolution
		}
	}
}

func newResolver(t *testing.T, ns string, ifindexes []int) *Resolver {
	var r *Resolver
	mustInNS(t, ns, func() (err error) {
		r, err = NewResolver(context.Background(), ifindexes)
		return err
	})
	t.Cleanup(func() { r.Close() })
	return r
}

func TestResolverLearnsAndFollows(t *testing.T) {
	dir, _, ifindex := pair(t)
	r := newResolver(t, dir, []int{ifindex})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, _, ok := r.Lookup(ipPeer); ok {
		t.Fatal("peer known before any resolution")
	}
	got, idx, err := r.Wait(ctx, netip.AddrFrom4(ipPeer))
	if err != nil {
		t.Fatalf("Wait(peer): %v", err)
	}
	if got != mac(t, macPeer) || idx != ifindex {
		t.Fatalf("peer = %x on %d, want %s on %d", got, idx, macPeer, ifindex)
	}

	// A change made behind the resolver's back arrives by subscription.
	ipc(t, "-n", dir, "neigh", "replace", "203.0.113.2", "lladdr", "02:00:00:00:00:99", "dev", "gv0", "nud", "permanent")
	waitFor(t, ctx, r, "neigh replace", func() bool {
		m, _, ok := r.Lookup(ipPeer)
		return ok && m == mac(t, "02:00:00:00:00:99")
	})

	// Deleted, it is forgotten and then learnt again from the peer.
	ipc(t, "-n", dir, "neigh", "del", "203.0.113.2", "dev", "gv0")
	waitFor(t, ctx, r, "relearn after delete", func() bool {
		m, _, ok := r.Lookup(ipPeer)
		return ok && m == mac(t, macPeer)
	})

	// An address nobody answers for never becomes usable.
	if _, _, ok := r.Lookup([4]byte{203, 0, 113, 77}); ok {
		t.Fatal("unanswered address usable")
	}
}

func TestResolverNextHop(t *testing.T) {
	dir, _, ifindex := pair(t)
	r := newResolver(t, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	gw, idx, src, ok := r.NextHop(ipPeer)
	if !ok || gw != ipPeer || idx != ifindex || src != ipDirector {
		t.Fatalf("NextHop(on-link) = %v %d %v %v", gw, idx, src, ok)
	}
	client := [4]byte{192, 0, 2, 9}
	if _, _, _, ok := r.NextHop(client); ok {
		t.Fatal("NextHop found a route that does not exist")
	}
	if _, _, _, ok := r.NextHop(ipDirector); ok {
		t.Fatal("NextHop(local address) ok")
	}

	ipc(t, "-n", dir, "route", "add", "192.0.2.0/24", "via", "203.0.113.2")
	waitFor(t, ctx, r, "route add", func() bool {
		gw, idx, _, ok := r.NextHop(client)
		return ok && gw == ipPeer && idx == ifindex
	})
	waitFor(t, ctx, r, "resolve via gateway", func() bool {
		m, idx, src, ok := r.Resolve(client)
		return ok && m == mac(t, macPeer) && idx == ifindex && src == ipDirector
	})

	ipc(t, "-n", dir, "route", "del", "192.0.2.0/24")
	waitFor(t, ctx, r, "route del", func() bool {
		_, _, _, ok := r.NextHop(client)
		return !ok
	})

	n := testing.AllocsPerRun(100, func() {
		r.NextHop(ipPeer)
		r.Lookup(ipPeer)
	})
	if n != 0 {
		t.Errorf("cached NextHop+Lookup allocs = %v, want 0", n)
	}
}

func TestAnnouncerOnWire(t *testing.T) {
	dir, peer, _ := pair(t)
	const count = 3
	vips := []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")}

	var rx *packet.Conn
	mustInNS(t, peer, func() error {
		ifi, err := net.InterfaceByName("gv1")
		if err != nil {
			return err
		}
		rx, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		return err
	})
	defer rx.Close()

	var a *Announcer
	mustInNS(t, dir, func() error {
		ifi, err := net.InterfaceByName("gv0")
		if err != nil {
			return err
		}
		// Frames sent before the veth has carrier are dropped: wait for it.
		for deadline := time.Now().Add(5 * time.Second); ifi.Flags&net.FlagRunning == 0; {
			if time.Now().After(deadline) {
				return fmt.Errorf("gv0 has no carrier")
			}
			time.Sleep(10 * time.Millisecond)
			if ifi, err = net.InterfaceByName("gv0"); err != nil {
				return err
			}
		}
		a, err = Listen(ifi, AnnouncerConfig{Count: count, Interval: 20 * time.Millisecond})
		return err
	})
	defer a.Close()
	if err := a.Announce(context.Background(), vips); err != nil {
		t.Fatal(err)
	}

	seen := map[netip.Addr]int{}
	buf := make([]byte, 2048)
	read := func(d time.Duration) bool { // one GARP from the director, or false at deadline
		rx.SetReadDeadline(time.Now().Add(d))
		for {
			n, _, err := rx.ReadFrom(buf)
			if err != nil {
				return false
			}
			p := gopacket.NewPacket(buf[:n], layers.LayerTypeEthernet, gopacket.Default)
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			arp, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			if eth == nil || arp == nil || eth.SrcMAC.String() != macDirector {
				continue // not ours
			}
			spa, _ := netip.AddrFromSlice(arp.SourceProtAddress)
			if eth.DstMAC.String() != "ff:ff:ff:ff:ff:ff" || arp.Operation != layers.ARPRequest ||
				net.HardwareAddr(arp.SourceHwAddress).String() != macDirector || net.HardwareAddr(arp.DstHwAddress).String() != "ff:ff:ff:ff:ff:ff" ||
				!net.IP(arp.DstProtAddress).Equal(net.IP(arp.SourceProtAddress)) || n < FrameLen {
				t.Errorf("malformed GARP (%d bytes): eth %v arp %+v", n, eth, arp)
			}
			seen[spa]++
			return true
		}
	}
	for i := 0; i < count*len(vips); i++ {
		if !read(5 * time.Second) {
			t.Fatalf("received %d GARPs, want %d: %v", i, count*len(vips), seen)
		}
	}
	if read(200 * time.Millisecond) {
		t.Fatalf("more than %d GARPs: %v", count*len(vips), seen)
	}
	for _, v := range vips {
		if seen[v] != count {
			t.Errorf("%v announced %d times, want %d", v, seen[v], count)
		}
	}
}
