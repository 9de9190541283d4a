package lab

import (
	"fmt"
	"net/netip"
	"time"
)

// Addresses of the Basic topologies (RFC 5737 documentation ranges).
var (
	ClientNet     = netip.MustParsePrefix("192.0.2.0/24")
	VIPNet        = netip.MustParsePrefix("198.51.100.0/24")
	RealserverNet = netip.MustParsePrefix("203.0.113.0/24")

	ClientAddr             = netip.MustParsePrefix("192.0.2.2/24")
	DirectorClientSideAddr = netip.MustParsePrefix("192.0.2.1/24")
	DirectorRSSideAddr     = netip.MustParsePrefix("203.0.113.1/24")
)

// RealserverAddr is the address of realserver i (1-based, "rs<i>"):
// 203.0.113.(10+i)/24.
func RealserverAddr(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}), 24)
}

// Topology is a client, a director and realservers, as built by BasicRouted
// or BasicDR. Realservers[i] is named "rs<i+1>" and has
// RealserverAddrs[i] = RealserverAddr(i+1).
type Topology struct {
	Client      *Host
	Director    *Host
	Realservers []*Host
	Segment     *Segment // the L2 segment the director and the realservers share

	ClientIf         string // client's interface towards the director
	DirectorClientIf string // director's interface towards the client
	DirectorRSIf     string // director's interface on Segment (== DirectorClientIf in BasicDR)
	RealserverIf     string // every realserver's interface on Segment

	ClientAddr         netip.Prefix
	DirectorClientAddr netip.Prefix
	DirectorRSAddr     netip.Prefix
	RealserverAddrs    []netip.Prefix
}

// Basic is BasicRouted.
func Basic(l *Lab, n int) (*Topology, error) { return BasicRouted(l, n) }

// BasicRouted builds the two-legged topology of the kernel's IPVS selftest,
// good for every forwarding method: masq (the realservers' default route is
// the director, so their replies come back through it) as well as DR and TUN
// (director and realservers share the L2 segment rsnet).
//
//	                veth                         segment "rsnet" (bridge)
//	client eth0 ------------ eth0 dir eth1 ---------+---- eth0 rs1 203.0.113.11/24
//	192.0.2.2/24    192.0.2.1/24   203.0.113.1/24    +---- eth0 rs2 203.0.113.12/24
//	default via 192.0.2.1     ip_forward=1           +---- ...  rsN 203.0.113.(10+N)/24
//	                                                 default via 203.0.113.1
//
// VIPs (198.51.100.0/24) are configured nowhere: the client reaches them
// through its default route, the director decides what happens to them.
func BasicRouted(l *Lab, n int) (*Topology, error) {
	t, err := newTopology(l, n, "eth1", "rsnet")
	if err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return l.Link(t.Client, t.ClientIf, t.Director, t.DirectorClientIf) },
		func() error { return t.Segment.Attach(t.Director, t.DirectorRSIf) },
		func() error { return t.Client.AddAddr(t.ClientIf, ClientAddr.String()) },
		func() error { return t.Director.AddAddr(t.DirectorClientIf, DirectorClientSideAddr.String()) },
		func() error { return t.Director.AddAddr(t.DirectorRSIf, DirectorRSSideAddr.String()) },
		func() error { return t.Director.Sysctl("net.ipv4.ip_forward", "1") },
		func() error { return t.Client.AddRoute("default via " + DirectorClientSideAddr.Addr().String()) },
	}
	if err := t.finish(l, n, steps, false); err != nil {
		return nil, err
	}
	return t, nil
}

// BasicDR builds one shared L2 segment for direct routing in its purest
// form: the realservers answer the client straight over the segment (an
// on-link route to 192.0.2.0/24), so replies never touch the director.
//
//	              segment "lan" (one bridge)
//	  +------------------+-------------------+---------------------+
//	client eth0        dir eth0             rs1 eth0    ...       rsN eth0
//	192.0.2.2/24       192.0.2.1/24         203.0.113.11/24       203.0.113.(10+N)/24
//	default via        203.0.113.1/24       192.0.2.0/24 dev eth0 (on-link)
//	192.0.2.1          ip_forward=1,        default via 203.0.113.1
//	                   send_redirects=0
//
// The client reaches VIPs and realservers through the director; a
// realserver's reply to the client goes directly to the client's MAC.
func BasicDR(l *Lab, n int) (*Topology, error) {
	t, err := newTopology(l, n, "eth0", "lan")
	if err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return t.Segment.Attach(t.Client, t.ClientIf) },
		func() error { return t.Segment.Attach(t.Director, t.DirectorClientIf) },
		func() error { return t.Client.AddAddr(t.ClientIf, ClientAddr.String()) },
		func() error { return t.Director.AddAddr(t.DirectorClientIf, DirectorClientSideAddr.String()) },
		func() error { return t.Director.AddAddr(t.DirectorRSIf, DirectorRSSideAddr.String()) },
		func() error { return t.Director.Sysctl("net.ipv4.ip_forward", "1") },
		func() error { return t.Director.Sysctl("net.ipv4.conf.all.send_redirects", "0") },
		func() error { return t.Director.Sysctl("net.ipv4.conf.eth0.send_redirects", "0") },
		func() error { return t.Client.AddRoute("default via " + DirectorClientSideAddr.Addr().String()) },
	}
	if err := t.finish(l, n, steps, true); err != nil {
		return nil, err
	}
	return t, nil
}

// newTopology makes the client, the director and the segment of a Basic
// topology; the director's realserver-side interface is rsIf.
func newTopology(l *Lab, n int, rsIf, segment string) (*Topology, error) {
	if err := checkN(n); err != nil {
		return nil, err
	}
	t := &Topology{ClientIf: "eth0", DirectorClientIf: "eth0", DirectorRSIf: rsIf, RealserverIf: "eth0",
		ClientAddr: ClientAddr, DirectorClientAddr: DirectorClientSideAddr, DirectorRSAddr: DirectorRSSideAddr}
	var err error
	if t.Client, err = l.Host("client"); err != nil {
		return nil, err
	}
	if t.Director, err = l.Host("dir"); err != nil {
		return nil, err
	}
	if t.Segment, err = l.Segment(segment); err != nil {
		return nil, err
	}
	return t, nil
}

// finish runs a topology's own steps, adds the n realservers and waits
// until every link can carry traffic.
func (t *Topology) finish(l *Lab, n int, steps []func() error, onLinkClients bool) error {
	if err := runSteps(steps); err != nil {
		return err
	}
	if err := t.addRealservers(l, n, onLinkClients); err != nil {
		return err
	}
	return l.WaitLinks(10 * time.Second)
}

func checkN(n int) error {
	if n < 1 || n > 99 {
		return fmt.Errorf("lab: %d realservers: want 1 to 99", n)
	}
	return nil
}

func runSteps(steps []func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func (t *Topology) addRealservers(l *Lab, n int, onLinkClients bool) error {
	for i := 1; i <= n; i++ {
		rs, err := l.Host(fmt.Sprintf("rs%d", i))
		if err != nil {
			return err
		}
		addr := RealserverAddr(i)
		t.Realservers = append(t.Realservers, rs)
		t.RealserverAddrs = append(t.RealserverAddrs, addr)
		steps := []func() error{
			func() error { return t.Segment.Attach(rs, t.RealserverIf) },
			func() error { return rs.AddAddr(t.RealserverIf, addr.String()) },
			func() error { return rs.AddRoute("default via " + DirectorRSSideAddr.Addr().String()) },
		}
		if onLinkClients {
			steps = append(steps, func() error { return rs.AddRouteDev(ClientNet, t.RealserverIf) })
		}
		if err := runSteps(steps); err != nil {
			return err
		}
	}
	return nil
}
