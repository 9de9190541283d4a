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
