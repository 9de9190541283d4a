//go:build linux

package nftin

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

func TestAdoptWithoutTable(t *testing.T) {
	dir, _ := setup(t)
	err := inNS(dir, func() error { _, err := Adopt([]string{"gv0"}, rules); return err })
	if !errors.Is(err, ErrNotExist) {
		t.Fatalf("Adopt with no table: %v, want ErrNotExist", err)
	}
}

// TestAdoptKeepsDropping takes the table over again and again while a
// stream of datagrams to a dropped VIP port goes on: not one may get
// through, and the adopted table is the adopter's to change and remove.
func TestAdoptKeepsDropping(t *testing.T) {
	dir, peer := setup(t)
	ipc(t, "-n", dir, "link", "add", "gv2", "type", "veth", "peer", "name", "gv3")
	var old *Table
	mustInNS(t, dir, func() (err error) {
		old, err = Install([]string{"gv0", "gv2"}, rules)
		return err
	})
	c := connIn(t, dir)
	srv := udp(t, dir, vip, 53)
	cli := udp(t, peer, peerIP, 0)

	stop := make(chan struct{})
	sent := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				sent <- n
				return
			default:
			}
			if _, err := cli.WriteToUDP([]byte("govs"), &net.UDPAddr{IP: net.IP(vip[:]), Port: 53}); err == nil {
				n++
			}
			time.Sleep(100 * time.Microsecond) // pace the stream, not a wait for a result
		}
	}()
	var tb *Table
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 20 && time.Now().Before(deadline); i++ {
		mustInNS(t, dir, func() (err error) {
			tb, err = Adopt([]string{"gv0"}, rules)
			return err
		})
		if i < 19 {
			tb.conn.CloseLasting() // each adopter but the last goes away without removing
		}
	}
	close(stop)
	if n := <-sent; n == 0 {
		t.Fatal("no datagram was sent during the adoptions")
	}
	if p := recv(srv, 200*time.Millisecond); p != 0 {
		t.Fatalf("a datagram to the dropped VIP port got through during the adoptions (from port %d)", p)
	}
	old.conn.CloseLasting() // the old owner is gone; it never removes the table

	tables, err := c.ListTablesOfFamily(nftables.TableFamilyNetdev)
	if err != nil || len(tables) != 1 {
		t.Fatalf("tables = %v, %v", tables, err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil || len(chains) != 1 || chains[0].Name != "ingress-gv0" {
		t.Fatalf("chains after adopting gv0 only: %v, %v; want ingress-gv0 alone", chains, err)
	}
	if err := tb.Update(Rules{VIPs: []Service{{Proto: unix.IPPROTO_TCP, Addr: vip, Port: 80}}}); err != nil {
		t.Fatal(err)
	}
	send(t, cli, vip, 53, 1)
	if p := recv(srv, 2*time.Second); p == 0 {
		t.Fatal("after the adopter's Update the VIP port 53 is still dropped")
	}
	if err := tb.Remove(); err != nil {
		t.Fatal(err)
	}
	if tables, err := c.ListTablesOfFamily(nftables.TableFamilyNetdev); err != nil || len(tables) != 0 {
		t.Fatalf("after Remove: tables = %v, %v", tables, err)
	}
}
