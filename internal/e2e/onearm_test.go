//go:build linux

package e2e

import (
	"testing"

	"github.com/govs-lb/govs/internal/lab"
)

// TestDROneArm is the classic LVS-DR: client, director and realservers on
// one segment, the director with a single interface, realservers answering
// the client directly.
func TestDROneArm(t *testing.T) {
	l := lab.NewT(t)
	topo, err := lab.BasicDR(l, 2)
	if err != nil {
		t.Fatal(err)
	}
	d := startGovs(t, topo.Director, "-i", topo.DirectorClientIf)
	prepareRealservers(t, topo, false)
	for _, rs := range topo.Realservers {
		serveBig(t, rs, vip+":80")
	}
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-t", vip+":80", "-r", rip(topo, i)+":80", "-g")
	}
	got := getN(t, topo.Client, "http://"+vip+"/", 6)
	assertAlternates(t, got, []string{"rs1", "rs2"})
	checkBigTransfers(t, topo.Client, "http://"+vip)
}

// TestVIPAlsoOnDirector: the VIP is configured in the director's own stack
// too (as keepalived's vrrp would put it there); govs still schedules every
// connection, because its ingress table keeps the kernel off VIP traffic.
func TestVIPAlsoOnDirector(t *testing.T) {
	topo, d := routedLab(t, 2)
	if err := topo.Director.IP("addr", "add", vip+"/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	// The director's own web server on the VIP must never be reached.
	if _, err := topo.Director.ServeHTTP(vip+":80", "director"); err != nil {
		t.Fatal(err)
	}
	prepareRealservers(t, topo, false)
	for _, rs := range topo.Realservers {
		if _, err := rs.ServeHTTP(vip+":80", ""); err != nil {
			t.Fatal(err)
		}
	}
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-t", vip+":80", "-r", rip(topo, i), "-g")
	}
	got := getN(t, topo.Client, "http://"+vip+"/", 6)
	assertAlternates(t, got, []string{"rs1", "rs2"})
}
