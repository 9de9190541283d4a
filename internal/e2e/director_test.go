//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/internal/lab"
)

// serveNamed accepts TCP connections on addr in h, writes the host's name
// and a newline, then echoes every line until the client closes.
func serveNamed(t *testing.T, h *lab.Host, addr string) {
	t.Helper()
	ln, err := h.ListenTCP(addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				fmt.Fprintf(c, "%s\n", h.Name)
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
}

// longConn is a client connection to a serveNamed server.
type longConn struct {
	c    net.Conn
	r    *bufio.Reader
	name string
}

func dialNamed(t *testing.T, h *lab.Host, addr string) *longConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.DialTCP(ctx, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read greeting from %s: %v", addr, err)
	}
	return &longConn{c: c, r: r, name: strings.TrimSpace(name)}
}

// echo checks that the connection still carries data both ways.
func (l *longConn) echo(t *testing.T, msg string) {
	t.Helper()
	if _, err := fmt.Fprintf(l.c, "%s\n", msg); err != nil {
		t.Fatalf("write on connection to %s: %v", l.name, err)
	}
	got, err := l.r.ReadString('\n')
	if err != nil || strings.TrimSpace(got) != msg {
		t.Fatalf("echo on connection to %s: got %q, %v", l.name, got, err)
	}
}

func count(conns []*longConn) map[string]int {
	m := map[string]int{}
	for _, c := range conns {
		m[c.name]++
	}
	return m
}

func TestWeightsAndQuiesce(t *testing.T) {
	topo, d := routedLab(t, 2)
	prepareRealservers(t, topo, false)
	for _, rs := range topo.Realservers {
		serveNamed(t, rs, vip+":7000")
		serveNamed(t, rs, vip+":7001")
	}
	// wrr 3:1 is exact: the kernel's sequence is rs1 rs1 rs1 rs2.
	d.govs("-A", "-t", vip+":7000", "-s", "wrr")
	d.govs("-a", "-t", vip+":7000", "-r", rip(topo, 0), "-g", "-w", "3")
	d.govs("-a", "-t", vip+":7000", "-r", rip(topo, 1), "-g", "-w", "1")
	var wrr []*longConn
	for range 8 {
		wrr = append(wrr, dialNamed(t, topo.Client, vip+":7000"))
	}
	if c := count(wrr); c["rs1"] != 6 || c["rs2"] != 2 {
		t.Fatalf("wrr 3:1 over 8 connections: got %v, want rs1:6 rs2:2", c)
	}

	// wlc with long-lived connections fills the servers by weight.
	d.govs("-A", "-t", vip+":7001", "-s", "wlc")
	d.govs("-a", "-t", vip+":7001", "-r", rip(topo, 0), "-g", "-w", "1")
	d.govs("-a", "-t", vip+":7001", "-r", rip(topo, 1), "-g", "-w", "3")
	var wlc []*longConn
	for range 8 {
		c := dialNamed(t, topo.Client, vip+":7001")
		c.echo(t, "established") // make sure the director saw it ESTABLISHED
		wlc = append(wlc, c)
	}
	if c := count(wlc); c["rs1"] != 2 || c["rs2"] != 6 {
		t.Fatalf("wlc 1:3 over 8 long-lived connections: got %v, want rs1:2 rs2:6", c)
	}
	list := d.govs("-L", "-n")
	if !strings.Contains(list, fmt.Sprintf("  -> %-28s Route   3      6", rip(topo, 1)+":7001")) {
		t.Errorf("govs -L -n does not count 6 active connections on %s:\n%s", rip(topo, 1), list)
	}

	// Weight 0 quiesces rs1: new connections avoid it, established ones go on.
	d.govs("-e", "-t", vip+":7000", "-r", rip(topo, 0), "-g", "-w", "0")
	for range 4 {
		if c := dialNamed(t, topo.Client, vip+":7000"); c.name != "rs2" {
			t.Fatalf("new connection went to quiesced %s", c.name)
		}
	}
	for _, c := range wrr {
		c.echo(t, "still here")
	}
	conns := d.govs("-L", "-n", "-c")
	if n := strings.Count(conns, "ESTABLISHED"); n < 16 {
		t.Errorf("govs -L -n -c shows %d ESTABLISHED entries, want ≥ 16:\n%s", n, conns)
	}
}

func TestARPPingAndGratuitousARP(t *testing.T) {
	topo, d := routedLab(t, 1)
	prepareRealservers(t, topo, false)
	serveNamed(t, topo.Realservers[0], vip+":7000")
	c := topo.Client
	// The client reaches the VIP on-link, so it must ARP for it, and it
	// accepts gratuitous ARPs for addresses it has not asked about.
	if err := c.IP("route", "add", "198.51.100.0/24", "dev", topo.ClientIf); err != nil {
		t.Fatal(err)
	}
	if err := c.Sysctl("net.ipv4.conf."+topo.ClientIf+".arp_accept", "1"); err != nil {
		t.Fatal(err)
	}
	dirMAC, err := topo.Director.MAC(topo.DirectorClientIf)
	if err != nil {
		t.Fatal(err)
	}
	d.govs("-A", "-t", vip+":7000", "-s", "rr")
	d.govs("-a", "-t", vip+":7000", "-r", rip(topo, 0), "-g")

	// Gratuitous ARP on the new VIP: the client learns it without asking.
	waitFor(t, "the client to learn the VIP from gratuitous ARP", 5*time.Second, func() bool {
		out, _ := c.Command(context.Background(), "ip", "neigh", "show", vip).Output()
		return strings.Contains(string(out), dirMAC.String())
	})
	// ARP request answered by govs: flush and connect.
	if err := c.IP("neigh", "flush", "dev", topo.ClientIf); err != nil {
		t.Fatal(err)
	}
	if got := dialNamed(t, c, vip+":7000"); got.name != "rs1" {
		t.Fatalf("answer from %q, want rs1", got.name)
	}
	out, _ := c.Command(context.Background(), "ip", "neigh", "show", vip).Output()
	if !strings.Contains(string(out), dirMAC.String()) {
		t.Fatalf("client resolved the VIP to %q, want the director's %s", out, dirMAC)
	}
	// ping VIP is answered by govs.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx, vip); err != nil {
		t.Fatalf("ping %s: %v", vip, err)
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	topo, _ := routedLab(t, 1)
	sock := t.TempDir() + "/second.sock"
	out, err := topo.Director.Command(context.Background(), govsBin, "run", "-i", topo.DirectorClientIf, "--socket", sock).CombinedOutput()
	if err == nil {
		t.Fatalf("a second govs started on the same interfaces:\n%s", out)
	}
	if !strings.Contains(string(out), "already running") {
		t.Fatalf("second govs: want a message saying govs is already running, got:\n%s", out)
	}
}

func TestCLIErrorsChangeNothing(t *testing.T) {
	topo, d := routedLab(t, 2)
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	d.govs("-a", "-t", vip+":80", "-r", rip(topo, 0), "-g")
	before := d.govs("-S", "-n")
	for _, bad := range [][]string{
		{"-A", "-t", vip + ":81", "-s", "bogus"},
		{"-A", "-t", "198.51.100.300:80"},
		{"-A", "-t", vip + ":70000"},
		{"-a", "-t", vip + ":80", "-r", rip(topo, 1), "-w", "65536"},
		{"-a", "-t", "198.51.100.9:80", "-r", rip(topo, 1)},
		{"-d", "-t", vip + ":80", "-r", "203.0.113.99"},
		{"-A", "-t", vip + ":80", "-s", "rr"},
		{"-D", "-u", vip + ":80"},
	} {
		out, err := d.govsErr(bad...)
		if err == nil {
			t.Errorf("govs %s succeeded:\n%s", strings.Join(bad, " "), out)
			continue
		}
		if msg := err.Error(); strings.Count(strings.TrimSpace(msg[strings.LastIndex(msg, ": ")+2:]), "\n") != 0 {
			t.Errorf("govs %s: want one line of error, got %q", strings.Join(bad, " "), msg)
		}
	}
	if after := d.govs("-S", "-n"); after != before {
		t.Fatalf("failed commands changed the configuration:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// -S output restores to the same configuration; a bad -R changes nothing.
	d.govs("-A", "-u", vip+":53", "-s", "sh")
	d.govs("-a", "-u", vip+":53", "-r", rip(topo, 1)+":5353", "-m", "-w", "5")
	saved := d.govs("-S", "-n")
	d.govs("-C")
	if got := d.govs("-S", "-n"); got != "" {
		t.Fatalf("after -C, -S prints %q", got)
	}
	restore := func(input string) error {
		cmd := exec.Command(govsBin, "-R")
		cmd.Env = append(os.Environ(), "GOVS_SOCKET="+d.socket)
		cmd.Stdin = strings.NewReader(input)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := restore(saved); err != nil {
		t.Fatalf("govs -R: %v", err)
	}
	if got := d.govs("-S", "-n"); got != saved {
		t.Fatalf("-S after -R differs:\nsaved:\n%s\nnow:\n%s", saved, got)
	}
	if err := restore("-A -t 198.51.100.2:80 -s rr\n-a -t 198.51.100.3:80 -r 203.0.113.11\n"); err == nil {
		t.Fatal("govs -R with a bad line succeeded")
	} else if !strings.Contains(err.Error(), "line 2") {
		t.Errorf("govs -R error does not name line 2: %v", err)
	}
	if got := d.govs("-S", "-n"); got != saved {
		t.Fatalf("a failed -R changed the configuration:\n%s", got)
	}

	// No daemon: one line, non-zero.
	cmd := exec.Command(govsBin, "-L", "-n")
	cmd.Env = append(os.Environ(), "GOVS_SOCKET="+t.TempDir()+"/none.sock")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is \"govs run\" running?") {
		t.Fatalf("govs without a daemon: err=%v out=%q", err, out)
	}
}

func TestFragmentedUDP(t *testing.T) {
	topo, d := routedLab(t, 2)
	prepareRealservers(t, topo, false)
	// Each realserver echoes every datagram and records it as its kernel
	// reassembled it, before answering.
	type datagram struct{ rs, data string }
	recv := make(chan datagram, 64)
	for _, rs := range topo.Realservers {
		c, err := rs.ListenUDP(vip + ":9000")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			buf := make([]byte, 65535)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return // the lab closed it
				}
				recv <- datagram{rs.Name, string(buf[:n])}
				c.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
	}
	d.govs("-A", "-u", vip+":9000", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-u", vip+":9000", "-r", rip(topo, i), "-g")
	}
	// Unfragmented queries first, one per realserver, so that no
	// fragmented one waits for ARP; then the counters start from zero.
	const warmup = "warm-up"
	for range topo.Realservers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := topo.Client.UDPQuery(ctx, vip+":9000", warmup)
		cancel()
		if err != nil {
			t.Fatalf("warm-up query: %v", err)
		}
	}
	d.govs("-Z")

	// 4000 bytes over a 1500-byte MTU: the client's stack sends three
	// fragments; only the first has ports, and the later two must follow
	// it to the same realserver.
	payload := strings.Repeat("0123456789abcdef", 250)
	const queries = 4
	for i := range queries {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := topo.Client.UDPQuery(ctx, vip+":9000", payload)
		cancel()
		if err != nil {
			t.Fatalf("fragmented query %d: %v", i, err)
		}
		if got != payload {
			t.Fatalf("fragmented query %d: got %d bytes back, want the %d sent", i, len(got), len(payload))
		}
	}
	// Every answer was sent after its datagram was recorded. Exactly one
	// whole datagram per query reached the realservers: a lost or
	// misrouted fragment would have left one unassembled and made the
	// client send it again.
	perRS := map[string]int{}
	for {
		var g datagram
		select {
		case g = <-recv:
		default:
		}
		if g.rs == "" {
			break
		}
		if g.data == warmup {
			continue
		}
		if g.data != payload {
			t.Errorf("%s received a datagram of %d bytes that is not the %d-byte payload", g.rs, len(g.data), len(payload))
		}
		perRS[g.rs]++
	}
	if n := perRS["rs1"] + perRS["rs2"]; n != queries {
		t.Fatalf("the realservers received %d fragmented datagrams (%v) for %d queries", n, perRS, queries)
	}
	// And govs scheduled each of them once, on its first fragment, to the
	// realserver that received it.
	waitFor(t, fmt.Sprintf("govs -L --stats to count the datagrams each realserver received %v", perRS), 5*time.Second, func() bool {
		st := d.govs("-L", "-n", "--stats", "--exact")
		for i, rs := range topo.Realservers {
			if statsColumn(t, st, rip(topo, i)+":9000", colInPkts) != perRS[rs.Name] {
				return false
			}
		}
		return true
	})
}

// rawSender sends hand-made Ethernet frames from inside a lab host.
func rawSend(t *testing.T, h *lab.Host, ifName string, frames [][]byte) {
	t.Helper()
	ifi, err := h.Interface(ifName)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, sa); err != nil && err != unix.ENOBUFS {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBadTrafficIsDropped sends the director eight categories of junk, one
// category at a time, and checks after each that govs counted it under the
// drop reason it belongs to and that no connection came of it. One worker
// reads the client side's one ring in order, so once a sentinel frame sent
// after a category is counted, the whole category has been handled.
func TestBadTrafficIsDropped(t *testing.T) {
	topo, d := routedLab(t, 2, "--workers", "1", "--metrics", ":9479")
	prepareRealservers(t, topo, false)
	for _, rs := range topo.Realservers {
		if _, err := rs.ServeHTTP(vip+":80", ""); err != nil {
			t.Fatal(err)
		}
	}
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	d.govs("-A", "-u", vip+":80", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-t", vip+":80", "-r", rip(topo, i), "-g")
		d.govs("-a", "-u", vip+":80", "-r", rip(topo, i), "-g")
	}
	dstMAC, _ := topo.Director.MAC(topo.DirectorClientIf)
	srcMAC, _ := topo.Client.MAC(topo.ClientIf)
	dst, src := [6]byte(dstMAC), [6]byte(srcMAC)
	v := [4]byte{198, 51, 100, 1}
	c := [4]byte{192, 0, 2, 2}
	rng := rand.New(rand.NewPCG(1, 2))

	// Each category, with the reason govs counts its frames under; none
	// for those the capture filter keeps from the ring and for random
	// bytes, which land under several.
	categories := []struct{ what, reason string }{
		{"truncated in the IP header", ""},
		{"IHL below 5", ""},
		{"total length past the frame", "parse_bad_length"},
		{"bad header checksum", "bad_ip_checksum"},
		{"unknown protocol to the VIP", ""},
		{"TCP without SYN", "not_syn"},
		{"random bytes after a valid Ethernet header", ""},
		{"version 6 in an IPv4 frame", "parse_bad_version"},
	}
	frames := make([][][]byte, len(categories))
	good := func(proto uint8, l4 []byte) []byte { return ipFrame(dst, src, c, v, proto, l4) }
	udp := func(sport uint16) []byte {
		u := make([]byte, 8+10)
		binary.BigEndian.PutUint16(u[0:], sport)
		binary.BigEndian.PutUint16(u[2:], 80)
		binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
		return u
	}
	for i := range 200 {
		f := good(17, udp(uint16(20000+i)))
		switch i % 8 {
		case 0:
			f = f[:14+rng.IntN(19)]
		case 1:
			f[14] = 0x43
		case 2:
			binary.BigEndian.PutUint16(f[16:], 1400)
		case 3:
			f[24] ^= 0xff
		case 4:
			f = good(99, make([]byte, 20))
		case 5:
			tcp := make([]byte, 20)
			binary.BigEndian.PutUint16(tcp[0:], uint16(30000+i))
			binary.BigEndian.PutUint16(tcp[2:], 80)
			tcp[12], tcp[13] = 5<<4, 0x10
			f = good(6, tcp)
		case 6:
			f = append(f[:14], make([]byte, 20+rng.IntN(60))...)
			for j := 14; j < len(f); j++ {
				f[j] = byte(rng.Uint32())
			}
			f[14] = 0x45
		case 7:
			f[14] = 0x65
		}
		frames[i%8] = append(frames[i%8], f)
	}
	// The sentinel: an ACK to the TCP service that no connection knows.
	sentinel := make([]byte, 20)
	binary.BigEndian.PutUint16(sentinel[0:], 40000)
	binary.BigEndian.PutUint16(sentinel[2:], 80)
	sentinel[12], sentinel[13] = 5<<4, 0x10
	sentinelFrame := good(6, sentinel)

	scrape := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		body, err := topo.Director.HTTPGet(ctx, "http://127.0.0.1:9479/metrics")
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		return body
	}
	connsOf := func(body, proto string) int {
		return metricSum(body, "govs_service_connections_total", `protocol="`+proto+`"`)
	}
	for i, cat := range categories {
		before := dropsByReason(scrape())
		rawSend(t, topo.Client, topo.ClientIf, append(frames[i], sentinelFrame))
		want := map[string]int{"not_syn": 1}
		if cat.reason != "" {
			want[cat.reason] += len(frames[i])
		}
		var body string
		var delta map[string]int
		waitFor(t, "the sentinel after "+cat.what+" to be counted", 10*time.Second, func() bool {
			body = scrape()
			delta = dropsByReason(body)
			for r, n := range before {
				delta[r] -= n
			}
			return delta["not_syn"] >= want["not_syn"]
		})
		t.Logf("%s: drops %v", cat.what, delta)
		total := 0
		for r, n := range delta {
			total += n
			if cat.reason != "" && n != want[r] {
				t.Errorf("%s: %d frames counted as %q, want %d", cat.what, n, r, want[r])
			}
		}
		if total > len(frames[i])+1 {
			t.Errorf("%s: %d drops counted for %d frames", cat.what, total, len(frames[i])+1)
		}
		if n, m := connsOf(body, "tcp"), connsOf(body, "udp"); n != 0 || m != 0 {
			t.Errorf("%s created connections: %d TCP, %d UDP", cat.what, n, m)
		}
		if n := metricSum(body, "govs_conntable_entries", ""); n != 0 {
			t.Errorf("%s left %d entries in the connection table", cat.what, n)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The daemon still serves, and makes exactly the connections asked for.
	got := getN(t, topo.Client, "http://"+vip+"/", 4)
	assertAlternates(t, got, []string{"rs1", "rs2"})
	body := scrape()
	if n, m := connsOf(body, "tcp"), connsOf(body, "udp"); n != 4 || m != 0 {
		t.Errorf("after 4 HTTP requests: %d TCP and %d UDP connections scheduled, want 4 and 0", n, m)
	}
	conns := d.govs("-L", "-n", "-c")
	if n := strings.Count(conns, "TCP "); n != 4 || strings.Contains(conns, "UDP ") {
		t.Errorf("govs -L -n -c lists %d TCP connections, want exactly the 4 HTTP ones:\n%s", n, conns)
	}
}

// metricSum adds up the samples of the metric family name in a Prometheus
// text body whose labels contain match ("" for all of them).
func metricSum(body, name, match string) int {
	n := 0
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') || !strings.Contains(rest, match) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
			n += int(v)
		}
	}
	return n
}

// dropsByReason sums govs_worker_drops_total over workers and interfaces.
func dropsByReason(body string) map[string]int {
	m := map[string]int{}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "govs_worker_drops_total{") {
			continue
		}
		_, r, ok := strings.Cut(line, `reason="`)
		if !ok {
			continue
		}
		reason, _, _ := strings.Cut(r, `"`)
		m[reason] += metricSum(line, "govs_worker_drops_total", "")
	}
	return m
}

// ipFrame builds an Ethernet+IPv4 frame with a correct header checksum.
func ipFrame(dst, src [6]byte, from, to [4]byte, proto uint8, l4 []byte) []byte {
	f := make([]byte, 14+20+len(l4))
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x08, 0x00
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:16], from[:])
	copy(ip[16:20], to[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	copy(f[34:], l4)
	return f
}
