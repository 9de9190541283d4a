//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/lab"
	"github.com/govs-lb/govs/localnode"
)

// tapName is the tap govs creates for local realservers (--tap default).
const tapName = localnode.DefaultName

// waitVIPOnTap waits until govs has put the VIP on its tap in h, so that a
// service can bind it.
func waitVIPOnTap(t *testing.T, h *lab.Host) {
	t.Helper()
	waitFor(t, vip+"/32 on "+tapName+" of "+h.Name, 10*time.Second, func() bool {
		out, err := h.Command(context.Background(), "ip", "-4", "addr", "show", "dev", tapName).Output()
		return err == nil && strings.Contains(string(out), vip+"/32")
	})
}

// ipOut runs ip(8) in h and returns its output.
func ipOut(t *testing.T, h *lab.Host, args ...string) string {
	t.Helper()
	out, err := h.Command(context.Background(), "ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s in %s: %v: %s", strings.Join(args, " "), h, err, out)
	}
	return string(out)
}

// TestLocalNodeHOWTO is the LVS-HOWTO's own walk-through of LocalNode
// (section 9.2): a service with one external realserver and the director
// itself as 127.0.0.1.
func TestLocalNodeHOWTO(t *testing.T) {
	topo, d := routedLab(t, 1)
	prepareRealservers(t, topo, false)
	if _, err := topo.Realservers[0].ServeHTTP(vip+":80", ""); err != nil {
		t.Fatal(err)
	}
	// ipvsadm -A -t VIP:80 -s rr; ipvsadm -a -t VIP:80 -r RIP
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	d.govs("-a", "-t", vip+":80", "-r", rip(topo, 0))
	if got := getN(t, topo.Client, "http://"+vip+"/", 2); got[0] != "rs1" || got[1] != "rs1" {
		t.Fatalf("with the external realserver only, pages came from %q, want rs1", got)
	}

	// ipvsadm -a -t VIP:80 -r 127.0.0.1, with an httpd on the VIP of the director.
	d.govs("-a", "-t", vip+":80", "-r", "127.0.0.1")
	waitVIPOnTap(t, topo.Director)
	if _, err := topo.Director.ServeHTTP(vip+":80", ""); err != nil {
		t.Fatal(err)
	}
	got := getN(t, topo.Client, "http://"+vip+"/", 6)
	assertAlternates(t, got, []string{"rs1", "dir"})

	list := d.govs("-L", "-n")
	if !regexp.MustCompile(`(?m)^  -> 127\.0\.0\.1:80 +Local +1 `).MatchString(list) {
		t.Errorf("govs -L -n does not show 127.0.0.1:80 as Local, weight 1:\n%s", list)
	}
	if save := d.govs("-S", "-n"); !strings.Contains(save, "-a -t "+vip+":80 -r 127.0.0.1:80 -g -w 1") {
		t.Errorf("govs -S -n does not save the local realserver as -g:\n%s", save)
	}

	// ipvsadm -d -t VIP:80 -r RIP: every page from the director.
	d.govs("-d", "-t", vip+":80", "-r", rip(topo, 0))
	for _, g := range getN(t, topo.Client, "http://"+vip+"/", 4) {
		if g != "dir" {
			t.Fatalf("after deleting the external realserver a page came from %q, want dir", g)
		}
	}
	list = d.govs("-L", "-n")
	want := regexp.MustCompile(`(?m)^TCP  ` + regexp.QuoteMeta(vip) + `:80 rr *\n  -> 127\.0\.0\.1:80 +Local +1 +\d+ +\d+ *\n*$`)
	if !want.MatchString(list[strings.Index(list, "TCP"):]) {
		t.Errorf("govs -L -n is not the HOWTO's one-line table:\n%s", list)
	}
	t.Logf("govs -L -n:\n%s", list)

	// Without local realservers the tap goes.
	d.govs("-d", "-t", vip+":80", "-r", "127.0.0.1")
	waitFor(t, tapName+" removed", 10*time.Second, func() bool { return !linkExists(topo.Director, tapName) })
}

// TestOneBoxMasq is the one-box LVS (HOWTO 9.5): two instances of an
// application on the director itself, each bound only to its own address
// and port 8080, behind VIP:80 with masquerading and port mapping.
func TestOneBoxMasq(t *testing.T) {
	l := lab.NewT(t)
	client, err := l.Host("client")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := l.Host("dir")
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return l.Link(client, "eth0", dir, "eth0") },
		func() error { return client.AddAddr("eth0", lab.ClientAddr.String()) },
		func() error { return dir.AddAddr("eth0", lab.DirectorClientSideAddr.String()) },
		func() error { return client.AddRoute("default via " + lab.DirectorClientSideAddr.Addr().String()) },
		// The application's two addresses, on the director itself.
		func() error { return dir.AddAddr("lo", "203.0.113.11/32") },
		func() error { return dir.AddAddr("lo", "203.0.113.12/32") },
		// Strict reverse-path filtering, as many distributions set it:
		// govs must relax it for the tap and put it back.
		func() error { return dir.Sysctl("net/ipv4/conf/all/rp_filter", "1") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	sysctls := []string{"net/ipv4/conf/all/rp_filter", "net/ipv4/conf/eth0/arp_ignore", "net/ipv4/conf/eth0/arp_announce", "net/ipv4/conf/eth0/accept_local"}
	before := map[string]string{}
	for _, k := range sysctls {
		if before[k], err = dir.ReadSysctl(k); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range []string{"203.0.113.11:8080", "203.0.113.12:8080"} {
		if _, err := dir.ServeHTTP(a, fmt.Sprintf("app%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	serveBig(t, dir, "203.0.113.11:8081")

	d := startGovs(t, dir, "-i", "eth0")
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	d.govs("-a", "-t", vip+":80", "-r", "203.0.113.11:8080", "-m")
	d.govs("-a", "-t", vip+":80", "-r", "203.0.113.12:8080", "-m")
	d.govs("-A", "-t", vip+":81", "-s", "rr")
	d.govs("-a", "-t", vip+":81", "-r", "203.0.113.11:8081", "-m")

	got := getN(t, client, "http://"+vip+"/", 6)
	assertAlternates(t, got, []string{"app1", "app2"})
	checkBigTransfers(t, client, "http://"+vip+":81")

	list := d.govs("-L", "-n")
	for _, a := range []string{"203.0.113.11:8080", "203.0.113.12:8080"} {
		if !regexp.MustCompile(`(?m)^  -> ` + regexp.QuoteMeta(a) + ` +Masq `).MatchString(list) {
			t.Errorf("govs -L -n does not show %s as Masq:\n%s", a, list)
		}
	}
	if v, _ := dir.ReadSysctl("net/ipv4/conf/all/rp_filter"); v != "2" {
		t.Errorf("all.rp_filter is %s while the tap runs, want 2 (loose)", v)
	}
	rules := ipOut(t, dir, "-4", "rule", "show")
	for _, a := range []string{"203.0.113.11", "203.0.113.12"} {
		if !strings.Contains(rules, "from "+a+" lookup "+fmt.Sprint(localnode.DefaultTable)) {
			t.Errorf("no policy rule for the replies of %s:\n%s", a, rules)
		}
	}

	// A connection closes cleanly: the client reads the whole answer up to
	// the server's FIN, and the connection entry leaves ESTABLISHED.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.DialTCP(ctx, vip+":80")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", vip)
	body, err := io.ReadAll(bufio.NewReader(c))
	if err != nil || !strings.HasPrefix(string(body), "HTTP/1.1 200") {
		t.Fatalf("read to EOF: %v: %q", err, body)
	}
	local := c.LocalAddr().(*net.TCPAddr)
	c.Close()
	clientEP := fmt.Sprintf("%s:%d", local.IP, local.Port)
	waitFor(t, "the connection from "+clientEP+" to leave ESTABLISHED", 5*time.Second, func() bool {
		for _, line := range strings.Split(d.govs("-L", "-n", "-c"), "\n") {
			if strings.Contains(line, clientEP) {
				return !strings.Contains(line, "ESTABLISHED")
			}
		}
		return false
	})

	// The last realserver from one address goes: its rule goes with it.
	d.govs("-d", "-t", vip+":80", "-r", "203.0.113.12:8080")
	waitFor(t, "rule for 203.0.113.12 removed", 5*time.Second, func() bool {
		return !strings.Contains(ipOut(t, dir, "-4", "rule", "show"), "from 203.0.113.12 ")
	})
	for _, g := range getN(t, client, "http://"+vip+"/", 2) {
		if g != "app1" {
			t.Fatalf("after deleting app2 a page came from %q", g)
		}
	}

	// SIGTERM: nothing may be left behind.
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err // for the harness's own checks at cleanup
		if err != nil {
			t.Fatalf("govs run: %v\n%s", err, d.log)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("govs run did not exit within 10s of SIGTERM")
	}
	if linkExists(dir, tapName) {
		t.Errorf("%s left behind", tapName)
	}
	if out := ipOut(t, dir, "-4", "addr", "show"); strings.Contains(out, vip) {
		t.Errorf("VIP left configured:\n%s", out)
	}
	if out := ipOut(t, dir, "-4", "rule", "show"); strings.Contains(out, fmt.Sprint(localnode.DefaultTable)) {
		t.Errorf("policy rules left behind:\n%s", out)
	}
	if out, _ := dir.Command(context.Background(), "ip", "-4", "route", "show", "table", fmt.Sprint(localnode.DefaultTable)).CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("routes left in table %d: %s", localnode.DefaultTable, out)
	}
	for _, k := range sysctls {
		if v, _ := dir.ReadSysctl(k); v != before[k] {
			t.Errorf("sysctl %s is %s after govs exited, was %s", k, v, before[k])
		}
	}
}
