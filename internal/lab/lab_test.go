package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// namespaces lists the names "ip netns list" shows that start with prefix.
func namespaces(t testing.TB, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewPrefix(t *testing.T) {
	a, err := New("a")
	must(t, err)
	b, err := New("b")
	must(t, err)
	for _, l := range []*Lab{a, b} {
		if ok, _ := matchDefault(l.Prefix + "-x"); !ok || len(l.Prefix) != 8 {
			t.Errorf("prefix %q does not match DefaultSweepPattern or is not 8 characters", l.Prefix)
		}
	}
	if a.Prefix == b.Prefix {
		t.Errorf("two labs got the same prefix %q", a.Prefix)
	}
	// Nothing was made, so Close has nothing to do.
	must(t, a.Close())
	must(t, b.Close())
}

func TestNames(t *testing.T) {
	l := NewT(t)
	if _, err := l.Host("toolongname"); err == nil {
		t.Error("host name making a namespace name over 15 characters: want error")
	}
	if _, err := l.Host("a b"); err == nil {
		t.Error("host name with a space: want error")
	}
	a, err := l.Host("a")
	must(t, err)
	if _, err := l.Host("a"); err == nil {
		t.Error("duplicate host name: want error")
	}
	b, err := l.Host("b")
	must(t, err)
	if err := l.Link(a, "averyveryverylongif", b, "eth0"); err == nil {
		t.Error("interface name over 15 characters: want error")
	}
	if got := namespaces(t, l.Prefix); len(got) != 2 {
		t.Errorf("namespaces %v, want the 2 hosts only", got)
	}
}

func TestLinkTrafficAndSysctl(t *testing.T) {
	ctx := testCtx(t)
	l := NewT(t)
	a, err := l.Host("a")
	must(t, err)
	b, err := l.Host("b")
	must(t, err)
	must(t, l.Link(a, "eth0", b, "veth-b"))
	must(t, a.AddAddr("eth0", "192.0.2.2/24"))
	must(t, b.AddAddr("veth-b", "192.0.2.1/24"))

	// Interfaces live in their namespace, with the names asked for.
	ia, err := a.Ifindex("eth0")
	must(t, err)
	if ia <= 1 {
		t.Errorf("ifindex of a/eth0 = %d", ia)
	}
	macB, err := b.MAC("veth-b")
	must(t, err)
	if len(macB) != 6 {
		t.Errorf("MAC of b/veth-b = %v", macB)
	}
	if _, err := a.MAC("veth-b"); err == nil {
		t.Error("a has b's interface")
	}

	must(t, a.Ping(ctx, "192.0.2.1"))

	// TCP: one line each way.
	ln, err := b.ListenTCP("192.0.2.1:7000")
	must(t, err)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "b got %s", line)
	}()
	c, err := a.DialTCP(ctx, "192.0.2.1:7000")
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("client local address %v, want 192.0.2.2", got)
	}
	fmt.Fprintf(c, "hello\n")
	got, err := io.ReadAll(c)
	must(t, err)
	if string(got) != "b got hello\n" {
		t.Errorf("TCP answer %q", got)
	}

	// UDP identity and echo.
	_, err = b.ServeUDP("192.0.2.1:7001", "")
	must(t, err)
	_, err = b.ServeUDPEcho("192.0.2.1:7002")
	must(t, err)
	if ans, err := a.UDPQuery(ctx, "192.0.2.1:7001", "who"); err != nil || ans != "b" {
		t.Errorf("UDP identity: %q, %v; want \"b\"", ans, err)
	}
	if ans, err := a.UDPQuery(ctx, "192.0.2.1:7002", "ping"); err != nil || ans != "ping" {
		t.Errorf("UDP echo: %q, %v; want \"ping\"", ans, err)
	}

	// HTTP.
	_, err = b.ServeHTTP("192.0.2.1:8080", "")
	must(t, err)
	if body, err := a.HTTPGet(ctx, "http://192.0.2.1:8080/"); err != nil || body != "b" {
		t.Errorf("HTTP: %q, %v; want \"b\"", body, err)
	}

	// Sysctls are per namespace.
	must(t, a.Sysctl("net.ipv4.ip_forward", "1"))
	if v, err := a.ReadSysctl("net.ipv4.ip_forward"); err != nil || v != "1" {
		t.Errorf("a ip_forward = %q, %v; want 1", v, err)
	}
	if v, err := b.ReadSysctl("net.ipv4.ip_forward"); err != nil || v != "0" {
		t.Errorf("b ip_forward = %q, %v; want 0 (sysctl leaked across namespaces)", v, err)
	}
	if v, err := a.ReadSysctl("net/ipv4/conf/eth0/forwarding"); err != nil || v != "1" {
		t.Errorf("a eth0 forwarding = %q, %v; want 1", v, err)
	}

	// Command runs inside the host.
	out, err := a.Command(ctx, "ip", "-o", "link", "show", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "eth0") {
		t.Errorf("ip link show eth0 inside a: %v: %s", err, out)
	}
}

func TestDoPanicAndError(t *testing.T) {
	l := NewT(t)
	h, err := l.Host("h")
	must(t, err)
	sentinel := errors.New("sentinel")
	if err := h.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do error = %v, want sentinel", err)
	}
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v, want boom", p)
		}
	}()
	h.Do(func() error { panic("boom") })
	t.Error("Do did not re-raise the panic")
}

func TestCloseRemovesNamespaces(t *testing.T) {
	l := NewT(t)
	a, err := l.Host("a")
	must(t, err)
	b, err := l.Host("b")
	must(t, err)
	s, err := l.Segment("seg")
	must(t, err)
	must(t, s.Attach(a, "eth0"))
	must(t, s.Attach(b, "eth0"))
	ln, err := a.ListenTCP("127.0.0.1:0")
	must(t, err)
	if got := namespaces(t, l.Prefix); len(got) != 3 {
		t.Fatalf("namespaces before Close: %v, want 3", got)
	}
	must(t, l.Close())
	if got := namespaces(t, l.Prefix); len(got) != 0 {
		t.Errorf("namespaces after Close: %v", got)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener after Close: Accept = %v, want net.ErrClosed", err)
	}
	must(t, l.Close()) // idempotent
	if _, err := l.Host("c"); err == nil {
		t.Error("Host after Close: want error")
	}
	if got := namespaces(t, l.Prefix); len(got) != 0 {
		t.Errorf("namespaces after Host on a closed lab: %v", got)
	}
}

// fakeTB records what NewT does with a testing.TB, so a failing test can be
// simulated without failing this one.
type fakeTB struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (f *fakeTB) Helper()                          {}
func (f *fakeTB) Name() string                     { return "fake" }
func (f *fakeTB) Cleanup(fn func())                { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Errorf(format string, a ...any)   { f.errs = append(f.errs, fmt.Sprintf(format, a...)) }
func (f *fakeTB) Fatalf(format string, a ...any)   { f.Errorf(format, a...) }
func (f *fakeTB) Fatal(a ...any)                   { f.Errorf("%s", fmt.Sprint(a...)) }
func (f *fakeTB) Skipf(format string, args ...any) { f.Errorf("skip: "+format, args...) }

func TestCleanupAfterFailure(t *testing.T) {
	NewT(t) // skip here if namespaces cannot be made
	f := &fakeTB{}
	l := NewT(f)
	_, err := l.Host("a")
	must(t, err)
	_, err = l.Segment("seg")
	must(t, err)
	f.Errorf("simulated failure")
	if len(f.cleanups) != 1 {
		t.Fatalf("NewT registered %d cleanups, want 1", len(f.cleanups))
	}
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	if len(f.errs) != 1 {
		t.Errorf("errors reported: %q, want only the simulated failure", f.errs)
	}
	if got := namespaces(t, l.Prefix); len(got) != 0 {
		t.Errorf("namespaces after cleanup of a failed test: %v", got)
	}

	// The real mechanism: a subtest leaving through runtime.Goexit
	// (SkipNow, like FailNow) still runs its cleanups.
	var prefix string
	t.Run("leaves-early", func(t *testing.T) {
		l := NewT(t)
		prefix = l.Prefix
		_, err := l.Host("a")
		must(t, err)
		t.SkipNow() // not an environment skip: the test of leaving through Goexit
	})
	if prefix == "" {
		t.Fatal("subtest did not run")
	}
	if got := namespaces(t, prefix); len(got) != 0 {
		t.Errorf("namespaces after subtest exit: %v", got)
	}
}

func TestSweep(t *testing.T) {
	l := NewT(t)
	_, err := l.Host("a")
	must(t, err)
	_, err = l.Host("b")
	must(t, err)
	// Only this lab's prefix: other runs may be going on.
	gone, err := Sweep(l.Prefix+"-*", time.Hour)
	must(t, err)
	if len(gone) != 0 {
		t.Errorf("Sweep removed young namespaces %v", gone)
	}
	gone, err = Sweep(l.Prefix+"-*", 0)
	must(t, err)
	if len(gone) != 2 {
		t.Errorf("Sweep removed %v, want the 2 hosts", gone)
	}
	if got := namespaces(t, l.Prefix); len(got) != 0 {
		t.Errorf("namespaces after Sweep: %v", got)
	}
	must(t, l.Close()) // namespaces already gone: not an error
	if _, err := Sweep("[", 0); err == nil {
		t.Error("bad pattern: want error")
	}
}

// udpTTL sends one datagram from src to dst and returns the TTL it arrived
// with at dst (64 minus the routers it crossed).
func udpTTL(t *testing.T, ctx context.Context, src *Host, dst *Host, dstAddr string) int {
	t.Helper()
	srv, err := dst.ListenUDP(dstAddr)
	must(t, err)
	defer srv.Close()
	p := ipv4.NewPacketConn(srv)
	must(t, p.SetControlMessage(ipv4.FlagTTL, true))
	c, err := src.DialUDP(ctx, dstAddr)
	must(t, err)
	defer c.Close()
	buf := make([]byte, 100)
	for {
		_, err := c.Write([]byte("ttl?"))
		must(t, err)
		p.SetReadDeadline(nextTry(ctx))
		_, cm, _, err := p.ReadFrom(buf)
		if err == nil {
			if cm == nil {
				t.Fatal("no control message")
			}
			return cm.TTL
		}
		if ctx.Err() != nil {
			t.Fatalf("%v -> %v %s: %v", src, dst, dstAddr, err)
		}
	}
}

func checkBasic(t *testing.T, ctx context.Context, topo *Topology, n int) {
	t.Helper()
	if len(topo.Realservers) != n || len(topo.RealserverAddrs) != n {
		t.Fatalf("%d realservers, %d addresses; want %d", len(topo.Realservers), len(topo.RealserverAddrs), n)
	}
	for i, rs := range topo.Realservers {
		addr := topo.RealserverAddrs[i].Addr().String()
		if want := fmt.Sprintf("rs%d", i+1); rs.Name != want {
			t.Errorf("realserver %d named %q, want %q", i, rs.Name, want)
		}
		if want := fmt.Sprintf("203.0.113.%d", 11+i); addr != want {
			t.Errorf("realserver %d address %s, want %s", i, addr, want)
		}
		must(t, topo.Client.Ping(ctx, addr))
		_, err := rs.ServeHTTP(addr+":80", "")
		must(t, err)
		if body, err := topo.Client.HTTPGet(ctx, "http://"+addr+"/"); err != nil || body != rs.Name {
			t.Errorf("GET %s from client: %q, %v; want %q", addr, body, err, rs.Name)
		}
		_, err = rs.ServeUDP(addr+":53", "")
		must(t, err)
		if ans, err := topo.Client.UDPQuery(ctx, addr+":53", "q"); err != nil || ans != rs.Name {
			t.Errorf("UDP %s from client: %q, %v; want %q", addr, ans, err, rs.Name)
		}
	}
	must(t, topo.Client.Ping(ctx, topo.DirectorRSAddr.Addr().String()))
}

func TestBasicRouted(t *testing.T) {
	ctx := testCtx(t)
	l := NewT(t)
	topo, err := Basic(l, 2)
	must(t, err)
	checkBasic(t, ctx, topo, 2)
	rs1 := topo.Realservers[0]
	// Both directions cross the director.
	if ttl := udpTTL(t, ctx, topo.Client, rs1, "203.0.113.11:9000"); ttl != 63 {
		t.Errorf("client -> rs1 TTL %d, want 63 (one hop through the director)", ttl)
	}
	if ttl := udpTTL(t, ctx, rs1, topo.Client, "192.0.2.2:9000"); ttl != 63 {
		t.Errorf("rs1 -> client TTL %d, want 63 (one hop through the director)", ttl)
	}
	if got := namespaces(t, l.Prefix); len(got) != 5 {
		t.Errorf("namespaces %v, want client, dir, rsnet, rs1, rs2", got)
	}
}

func TestBasicDR(t *testing.T) {
	ctx := testCtx(t)
	l := NewT(t)
	topo, err := BasicDR(l, 2)
	must(t, err)
	checkBasic(t, ctx, topo, 2)
	rs2 := topo.Realservers[1]
	if ttl := udpTTL(t, ctx, topo.Client, rs2, "203.0.113.12:9000"); ttl != 63 {
		t.Errorf("client -> rs2 TTL %d, want 63 (routed by the director)", ttl)
	}
	// The realserver answers straight over the segment.
	if ttl := udpTTL(t, ctx, rs2, topo.Client, "192.0.2.2:9000"); ttl != 64 {
		t.Errorf("rs2 -> client TTL %d, want 64 (direct, not through the director)", ttl)
	}
	// Director and realservers share L2: the director reaches rs2 with no router.
	if ttl := udpTTL(t, ctx, topo.Director, rs2, "203.0.113.12:9001"); ttl != 64 {
		t.Errorf("director -> rs2 TTL %d, want 64", ttl)
	}
}

func TestBasicRoutedDirectorSharesL2(t *testing.T) {
	ctx := testCtx(t)
	l := NewT(t)
	topo, err := BasicRouted(l, 1)
	must(t, err)
	if ttl := udpTTL(t, ctx, topo.Director, topo.Realservers[0], "203.0.113.11:9001"); ttl != 64 {
		t.Errorf("director -> rs1 TTL %d, want 64 (same segment, as DR and TUN need)", ttl)
	}
}
