//go:build linux

package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/lab"
)

// twoBox is the two-box LVS: boxes A and B, each a director and a
// realserver, and a client, all on one L2 segment.
//
//	              segment "lan" (one bridge)
//	  +----------------------+----------------------+
//	client eth0            boxa eth0              boxb eth0
//	192.0.2.2/24           203.0.113.21/24        203.0.113.22/24
//	VIP on-link            192.0.2.0/24 on-link   192.0.2.0/24 on-link
//	                       govs, tap govs0        govs, tap govs0
//	                       service on VIP:80      service on VIP:80
type twoBox struct {
	client, a, b *lab.Host
	da, db       *daemon
	macA, macB   string
}

const (
	boxAAddr = "203.0.113.21"
	boxBAddr = "203.0.113.22"
)

func newTwoBox(t *testing.T) *twoBox {
	t.Helper()
	l := lab.NewT(t)
	seg, err := l.Segment("lan")
	if err != nil {
		t.Fatal(err)
	}
	tb := &twoBox{}
	for _, h := range []struct {
		p    **lab.Host
		name string
	}{{&tb.client, "client"}, {&tb.a, "boxa"}, {&tb.b, "boxb"}} {
		if *h.p, err = l.Host(h.name); err != nil {
			t.Fatal(err)
		}
		if err := seg.Attach(*h.p, "eth0"); err != nil {
			t.Fatal(err)
		}
	}
	steps := []func() error{
		func() error { return tb.client.AddAddr("eth0", lab.ClientAddr.String()) },
		func() error { return tb.client.AddRouteDev(lab.VIPNet, "eth0") },
		func() error { return tb.client.AddRouteDev(lab.RealserverNet, "eth0") },
		func() error { return tb.a.AddAddr("eth0", boxAAddr+"/24") },
		func() error { return tb.b.AddAddr("eth0", boxBAddr+"/24") },
		func() error { return tb.a.AddRouteDev(lab.ClientNet, "eth0") },
		func() error { return tb.b.AddRouteDev(lab.ClientNet, "eth0") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct {
		h   *lab.Host
		mac *string
	}{{tb.a, &tb.macA}, {tb.b, &tb.macB}} {
		hw, err := m.h.MAC("eth0")
		if err != nil {
			t.Fatal(err)
		}
		*m.mac = hw.String()
	}

	// Both boxes run the same configuration: the local service and the
	// other box by direct routing.
	tb.da = startGovs(t, tb.a, "-i", "eth0", "--role", "master")
	tb.db = startGovs(t, tb.b, "-i", "eth0", "--role", "backup")
	for _, c := range []struct {
		d    *daemon
		h    *lab.Host
		peer string
	}{{tb.da, tb.a, boxBAddr}, {tb.db, tb.b, boxAAddr}} {
		c.d.govs("-A", "-t", vip+":80", "-s", "rr")
		c.d.govs("-a", "-t", vip+":80", "-r", "127.0.0.1", "-g")
		c.d.govs("-a", "-t", vip+":80", "-r", c.peer, "-g")
		waitVIPOnTap(t, c.h)
		if _, err := c.h.ServeHTTP(vip+":80", ""); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

// vipMAC is the client's neighbour entry for the VIP ("" when none).
func (tb *twoBox) vipMAC(t *testing.T) string {
	t.Helper()
	out := ipOut(t, tb.client, "neigh", "show", vip, "dev", "eth0")
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

func TestTwoBoxLVS(t *testing.T) {
	tb := newTwoBox(t)
	url := "http://" + vip + "/"

	// A is master: the client's ARP for the VIP gets A's MAC, and the
	// connections alternate between A's own service and B's.
	got := getN(t, tb.client, url, 6)
	assertAlternates(t, got, []string{"boxa", "boxb"})
	if m := tb.vipMAC(t); m != tb.macA {
		t.Fatalf("client's ARP entry for the VIP is %q, want master A's %s", m, tb.macA)
	}
	if r := strings.TrimSpace(tb.db.govs("role")); r != "backup" {
		t.Fatalf("govs role on B says %q", r)
	}
	if list := tb.da.govs("-L", "-n"); !strings.Contains(list, "-> 127.0.0.1:80") || !strings.Contains(list, "Local") {
		t.Errorf("govs -L -n on A does not show the local realserver:\n%s", list)
	}

	// A long-lived connection that A forwarded to B: B's own service holds
	// it, and it must survive B becoming master.
	var kept net.Conn
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := tb.client.DialTCP(ctx, vip+":80")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if who := httpOn(t, c); who == "boxb" {
			kept = c
			break
		}
		c.Close()
	}
	if kept == nil {
		t.Fatal("no connection went to B in two tries of rr")
	}
	defer kept.Close()

	// Swap: A steps down, B takes over (what VRRP notify scripts do).
	start := time.Now()
	tb.da.govs("role", "backup")
	tb.db.govs("role", "master")
	switched := time.Since(start)

	var firstAnswer, firstViaB time.Duration
	deadline := time.Now().Add(10 * time.Second)
	for firstAnswer == 0 || firstViaB == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no answer through the new master within 10s (first answer after %v)", firstAnswer)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := tb.client.HTTPGet(ctx, url)
		cancel()
		if err != nil {
			continue
		}
		if firstAnswer == 0 {
			firstAnswer = time.Since(start)
		}
		if tb.vipMAC(t) == tb.macB {
			firstViaB = time.Since(start)
		}
	}
	t.Logf("failover: roles switched in %v; first answered request %v after the switch; "+
		"client's ARP entry on the new master (gratuitous ARP) and a request answered through it after %v",
		switched, firstAnswer, firstViaB)

	// New connections go to B now and alternate between both services;
	// A, a backup, answers those B forwards to it.
	got = getN(t, tb.client, url, 6)
	assertAlternates(t, got, []string{"boxa", "boxb"})
	if m := tb.vipMAC(t); m != tb.macB {
		t.Fatalf("client's ARP entry for the VIP is %q after the switch, want B's %s", m, tb.macB)
	}
	checkStatsMoved(t, tb.db, "TCP", vip+":80", 3)
	if who := httpOn(t, kept); who != "boxb" {
		t.Errorf("the connection B served as a backup answered %q after B became master", who)
	}

	// A backup answers no ARP: with the client's entry gone, only B answers.
	ipOut(t, tb.client, "neigh", "flush", "dev", "eth0")
	getN(t, tb.client, url, 2)
	if m := tb.vipMAC(t); m != tb.macB {
		t.Fatalf("after a fresh ARP the VIP resolves to %q, want only the master B (%s)", m, tb.macB)
	}
	for _, h := range []*lab.Host{tb.a, tb.b} {
		for k, want := range map[string]string{"arp_ignore": "1", "arp_announce": "2"} {
			if v, _ := h.ReadSysctl("net/ipv4/conf/eth0/" + k); v != want {
				t.Errorf("%s: eth0 %s is %s while govs runs, want %s", h.Name, k, v, want)
			}
		}
	}
}

// httpOn sends one HTTP/1.1 keep-alive request on c and returns the body,
// which is a box's name.
func httpOn(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: " + vip + "\r\n\r\n")); err != nil {
		t.Fatalf("request on a kept connection: %v", err)
	}
	buf := make([]byte, 4096)
	var resp string
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("answer on a kept connection: %v (so far %q)", err, resp)
		}
		resp += string(buf[:n])
		if i := strings.Index(resp, "\r\n\r\n"); i >= 0 {
			if b := resp[i+4:]; b == "boxa" || b == "boxb" {
				return b
			}
		}
	}
}
