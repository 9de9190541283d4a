//go:build linux

package e2e

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// TestMasqICMPErrorReachesClient: a masqueraded realserver with nothing on
// the port answers ICMP port unreachable, quoting client -> RIP:rport; govs
// translates it (outer source and quoted destination to VIP:vport, as
// ip_vs_nat_icmp), so the client's connected UDP socket sees ECONNREFUSED.
func TestMasqICMPErrorReachesClient(t *testing.T) {
	topo, d := routedLab(t, 1)
	d.govs("-A", "-u", vip+":54", "-s", "rr")
	d.govs("-a", "-u", vip+":54", "-r", rip(topo, 0)+":5454", "-m")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := topo.Client.DialUDP(ctx, vip+":54")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for {
		if _, err := c.Write([]byte("anyone?")); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(buf)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return // the translated ICMP error arrived
		}
		if ctx.Err() != nil {
			t.Fatalf("no port unreachable reached the client through govs: last read error %v", err)
		}
	}
}
