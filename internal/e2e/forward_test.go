//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/lab"
)

const vip = "198.51.100.1"

// routedLab builds lab.BasicRouted with n realservers and starts govs on the
// director's two interfaces.
func routedLab(t *testing.T, n int, extra ...string) (*lab.Topology, *daemon) {
	t.Helper()
	l := lab.NewT(t)
	topo, err := lab.BasicRouted(l, n)
	if err != nil {
		t.Fatal(err)
	}
	// Realservers answer DR/TUN clients from the VIP through the director's
	// kernel, which must not drop them for a source it has no route to.
	for _, k := range []string{"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"} {
		if err := topo.Director.Sysctl(k, "0"); err != nil {
			t.Fatal(err)
		}
	}
	d := startGovs(t, topo.Director, append([]string{"-i", topo.DirectorClientIf, "-i", topo.DirectorRSIf}, extra...)...)
	return topo, d
}

func rip(topo *lab.Topology, i int) string { return topo.RealserverAddrs[i].Addr().String() }

// prepareRealservers runs `govs realserver` (VIP on lo, ARP sysctls, and
// with tun the user-space IPIP decapsulator) in every realserver.
func prepareRealservers(t *testing.T, topo *lab.Topology, tun bool) {
	t.Helper()
	for _, rs := range topo.Realservers {
		args := []string{"realserver", "-i", topo.RealserverIf, "--vip", vip}
		if tun {
			args = append(args, "--tun")
		}
		background(t, rs, govsBin, args...)
	}
	for _, rs := range topo.Realservers {
		waitFor(t, "VIP on lo of "+rs.Name, 10*time.Second, func() bool {
			out, err := rs.Command(context.Background(), "ip", "-4", "addr", "show", "dev", "lo").Output()
			return err == nil && strings.Contains(string(out), vip+"/32") &&
				(!tun || linkExists(rs, "govstun0"))
		})
	}
}

func linkExists(h *lab.Host, name string) bool {
	return h.Command(context.Background(), "ip", "link", "show", "dev", name).Run() == nil
}

// getN fetches url n times over fresh connections and returns the bodies.
func getN(t *testing.T, h *lab.Host, url string, n int) []string {
	t.Helper()
	var got []string
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := h.HTTPGet(ctx, url)
		cancel()
		if err != nil {
			t.Fatalf("request %d to %s: %v", i+1, url, err)
		}
		got = append(got, body)
	}
	return got
}

// assertAlternates checks that got cycles through want in some fixed order,
// as rr does.
func assertAlternates(t *testing.T, got []string, want []string) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("only %d answers", len(got))
	}
	seen := map[string]bool{}
	for _, g := range got[:len(want)] {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			t.Fatalf("first %d answers %q miss %q (want each of %q once per round)", len(want), got[:len(want)], w, want)
		}
	}
	for i := len(want); i < len(got); i++ {
		if got[i] != got[i-len(want)] {
			t.Fatalf("answers do not alternate round-robin: %q", got)
		}
	}
}

func TestDRRoundRobinTCPAndUDP(t *testing.T) {
	topo, d := routedLab(t, 3)
	prepareRealservers(t, topo, false)
	for _, rs := range topo.Realservers {
		if _, err := rs.ServeHTTP(vip+":80", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := rs.ServeUDP(vip+":53", ""); err != nil {
			t.Fatal(err)
		}
	}
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	d.govs("-A", "-u", vip+":53", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-t", vip+":80", "-r", rip(topo, i)+":80", "-g")
		d.govs("-a", "-u", vip+":53", "-r", rip(topo, i), "-g")
	}

	got := getN(t, topo.Client, "http://"+vip+"/", 9)
	assertAlternates(t, got, []string{"rs1", "rs2", "rs3"})

	var udp []string
	for i := range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ans, err := topo.Client.UDPQuery(ctx, vip+":53", fmt.Sprintf("q%d", i))
		cancel()
		if err != nil {
			t.Fatalf("UDP query %d: %v", i, err)
		}
		udp = append(udp, ans)
	}
	assertAlternates(t, udp, []string{"rs1", "rs2", "rs3"})

	list := d.govs("-L", "-n")
	for i := range topo.Realservers {
		want := fmt.Sprintf("  -> %-28s Route", rip(topo, i)+":80")
		if !strings.Contains(list, want) {
			t.Errorf("govs -L -n lacks %q:\n%s", want, list)
		}
	}
	if !strings.Contains(list, "TCP  "+vip+":80 rr") || !strings.Contains(list, "UDP  "+vip+":53 rr") {
		t.Errorf("govs -L -n lacks the services:\n%s", list)
	}
	conns := d.govs("-L", "-n", "-c")
	if n := strings.Count(conns, "UDP"); n < 6 {
		t.Errorf("govs -L -n -c lists %d UDP connections, want ≥ 6:\n%s", n, conns)
	}
	stats := d.govs("-L", "-n", "--stats", "--exact")
	if !strings.Contains(stats, vip+":80") {
		t.Errorf("--stats lacks the service:\n%s", stats)
	}
	checkStatsMoved(t, d, "TCP", vip+":80", 9)
}

// checkStatsMoved parses govs -L -n --stats --exact and checks the
// service's connection counter.
func checkStatsMoved(t *testing.T, d *daemon, proto, svc string, minConns int) {
	t.Helper()
	out := d.govs("-L", "-n", "--stats", "--exact")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == proto && f[1] == svc {
			var conns int
			fmt.Sscan(f[2], &conns)
			if conns < minConns {
				t.Errorf("%s %s: %d connections counted, want ≥ %d:\n%s", proto, svc, conns, minConns, out)
			}
			return
		}
	}
	t.Errorf("no stats line for %s %s:\n%s", proto, svc, out)
}

var _ = netip.Addr{}
