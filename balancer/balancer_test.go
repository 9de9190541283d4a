package balancer

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

var (
	vip1 = [4]byte{198, 51, 100, 1}
	vip2 = [4]byte{198, 51, 100, 2}
	rip1 = netip.MustParseAddr("203.0.113.1")
	rip2 = netip.MustParseAddr("203.0.113.2")
	rip3 = netip.MustParseAddr("203.0.113.3")
)

func client(i int) [4]byte { return [4]byte{192, 0, 2, byte(i)} }

func tcpKey(v [4]byte, port uint16) ServiceKey {
	return ServiceKey{Proto: TCP, Addr: netip.AddrFrom4(v), Port: port}
}

func udpKey(v [4]byte, port uint16) ServiceKey {
	return ServiceKey{Proto: UDP, Addr: netip.AddrFrom4(v), Port: port}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// setup returns a balancer with one service and realservers of weight 1.
func setup(t *testing.T, cfg Config, sc ServiceConfig, m Method, rips ...netip.Addr) (*Balancer, *Worker) {
	t.Helper()
	b := New(cfg)
	mustOK(t, b.AddService(sc))
	for _, r := range rips {
		mustOK(t, b.AddDest(sc.ServiceKey, DestConfig{Addr: r, Port: sc.Port, Method: m, Weight: 1}))
	}
	return b, b.NewWorker()
}

// isService reports whether the published configuration has a service for
// a packet to addr:port over proto (port-zero services included), as In
// looks it up.
func isService(b *Balancer, addr [4]byte, port uint16, proto Proto) bool {
	return b.snap.Load().lookup(proto, addr, port) != nil
}

func tcpFlow(c [4]byte, cport uint16, v [4]byte, vport uint16) *Flow {
	return &Flow{Proto: TCP, Src: c, SrcPort: cport, Dst: v, DstPort: vport}
}

func destOf(v Verdict) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(v.DestAddr), v.DestPort)
}

func destStatus(t *testing.T, b *Balancer, k ServiceKey, a netip.Addr) DestStatus {
	t.Helper()
	for _, s := range b.Services() {
		if s.ServiceKey == k {
			for _, d := range s.Dests {
				if d.Addr == a {
					return d
				}
			}
		}
	}
	t.Fatalf("realserver %s not in service %s", a, k)
	return DestStatus{}
}

func counts(t *testing.T, b *Balancer, k ServiceKey, a netip.Addr) [3]int {
	t.Helper()
	d := destStatus(t, b, k, a)
	return [3]int{d.ActiveConns, d.InactConns, d.PersistConns}
}

// kernelTCPStates is tcp_states from net/netfilter/ipvs/ip_vs_proto_tcp.c,
// copied verbatim, the oracle for tcpStateTable.
const kernelTCPStates = `
/*	INPUT */
/*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA	*/
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR }},

/*	OUTPUT */
/*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA	*/
/*syn*/ {{sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR }},
/*fin*/ {{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES }},
/*rst*/ {{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL }},

/*	INPUT-ONLY */
/*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA	*/
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL }},
`

func TestTCPStateTableMatchesKernel(t *testing.T) {
	names := map[string]uint8{"sNO": sNO, "sES": sES, "sSS": sSS, "sSR": sSR, "sFW": sFW,
		"sTW": sTW, "sCL": sCL, "sCW": sCW, "sLA": sLA, "sLI": sLI, "sSA": sSA}
	flags := [4]uint8{TCPFlagSYN, TCPFlagFIN, TCPFlagACK, TCPFlagRST}
	dirs := [3]int{dirInput, dirOutput, dirInputOnly}
	row := 0
	for _, line := range strings.Split(kernelTCPStates, "\n") {
		i := strings.Index(line, "{{")
		if i < 0 {
			continue
		}
		cells := strings.Split(strings.Trim(line[i:], "{} ,"), ",")
		if len(cells) != int(tcpNumStates) {
			t.Fatalf("row %d: %d cells", row, len(cells))
		}
		dir, ev := dirs[row/4], flags[row%4]
		for cur, cell := range cells {
			want := names[strings.TrimSpace(cell)]
			if got := nextTCPState(uint8(cur), dir, ev|TCPFlagACK*0); got != want {
				t.Errorf("dir %d flags %#x state %s: got %s, kernel %s", dir, ev, tcpStateNames[cur], tcpStateNames[got], tcpStateNames[want])
			}
		}
		row++
	}
	if row != 12 {
		t.Fatalf("parsed %d rows, want 12", row)
	}
}

func TestTCPStateIdx(t *testing.T) {
	for _, tc := range []struct {
		cur   uint8
		dir   int
		flags uint8
		want  uint8
	}{
		{sNO, dirInputOnly, TCPFlagSYN, sSR},
		{sSR, dirInputOnly, TCPFlagACK, sES},
		{sES, dirInputOnly, TCPFlagACK | TCPFlagFIN, sFW}, // FIN wins over ACK
		{sES, dirInput, TCPFlagACK | TCPFlagFIN, sCW},     // full table: client FIN → CLOSE_WAIT
		{sES, dirInput, TCPFlagSYN | TCPFlagRST, sCL},     // RST wins over SYN
		{sES, dirInput, 0, sCL},                           // no flags: CLOSE
		{sSA, dirInputOnly, TCPFlagRST, sCL},
		{sSA, dirInput, TCPFlagRST, sSR},
		{sSR, dirOutput, TCPFlagSYN | TCPFlagACK, sSR}, // SYN-ACK from a masq realserver
	} {
		if got := nextTCPState(tc.cur, tc.dir, tc.flags); got != tc.want {
			t.Errorf("%s dir %d flags %#x: got %s, want %s", tcpStateNames[tc.cur], tc.dir, tc.flags, tcpStateNames[got], tcpStateNames[tc.want])
		}
	}
}

func TestConfigErrors(t *testing.T) {
	b := New(Config{})
	k := tcpKey(vip1, 80)
	check := func(err error, want string, target error) {
		t.Helper()
		if err == nil || err.Error() != want || !errors.Is(err, target) {
			t.Errorf("got %v, want %q (%v)", err, want, target)
		}
	}
	check(b.AddDest(k, DestConfig{Addr: rip1, Port: 80}), "service TCP 198.51.100.1:80 does not exist", ErrNotExist)
	check(b.DelService(k), "service TCP 198.51.100.1:80 does not exist", ErrNotExist)
	check(b.EditService(ServiceConfig{ServiceKey: k}), "service TCP 198.51.100.1:80 does not exist", ErrNotExist)
	mustOK(t, b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr"}))
	check(b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr"}), "service TCP 198.51.100.1:80 already exists", ErrExist)
	mustOK(t, b.AddDest(k, DestConfig{Addr: rip2, Port: 80, Weight: 1}))
	check(b.AddDest(k, DestConfig{Addr: rip2, Port: 80, Weight: 3}),
		"realserver 203.0.113.2:80 already exists in service TCP 198.51.100.1:80", ErrExist)
	check(b.DelDest(k, rip1, 80), "realserver 203.0.113.1:80 does not exist in service TCP 198.51.100.1:80", ErrNotExist)
	check(b.EditDest(k, DestConfig{Addr: rip1, Port: 80}), "realserver 203.0.113.1:80 does not exist in service TCP 198.51.100.1:80", ErrNotExist)
	check(b.AddDest(k, DestConfig{Addr: rip1, Port: 80, Weight: 65536}),
		"realserver 203.0.113.1:80 in service TCP 198.51.100.1:80: weight 65536 out of range 0..65535: invalid argument", ErrInvalid)
	check(b.AddDest(k, DestConfig{Addr: rip1, Port: 80, Weight: -1}),
		"realserver 203.0.113.1:80 in service TCP 198.51.100.1:80: weight -1 out of range 0..65535: invalid argument", ErrInvalid)
	check(b.AddService(ServiceConfig{ServiceKey: tcpKey(vip2, 0), Scheduler: "rr"}),
		"service TCP 198.51.100.2:0: port zero is only supported for persistent services: invalid argument", ErrInvalid)
	check(b.AddService(ServiceConfig{ServiceKey: ServiceKey{Proto: 1, Addr: netip.AddrFrom4(vip2), Port: 1}}),
		"service proto-1 198.51.100.2:1: protocol must be TCP or UDP: invalid argument", ErrInvalid)
	check(b.AddService(ServiceConfig{ServiceKey: tcpKey(vip2, 80), Persistent: true, Netmask: netip.MustParseAddr("255.0.255.0")}),
		"service TCP 198.51.100.2:80: netmask 255.0.255.0 is not contiguous: invalid argument", ErrInvalid)
	if err := b.AddService(ServiceConfig{ServiceKey: tcpKey(vip2, 80), Scheduler: "nope"}); err == nil {
		t.Error("unknown scheduler accepted")
	}
	// Failed calls changed nothing.
	ss := b.Services()
	if len(ss) != 1 || len(ss[0].Dests) != 1 || ss[0].Dests[0].Weight != 1 {
		t.Fatalf("services after failed calls: %+v", ss)
	}
	if isService(b, vip2, 80, TCP) || !isService(b, vip1, 80, TCP) || isService(b, vip1, 80, UDP) {
		t.Error("the service lookup disagrees with the config")
	}
	// Defaults.
	mustOK(t, b.AddService(ServiceConfig{ServiceKey: udpKey(vip2, 0), Persistent: true}))
	ss = b.Services()
	if len(ss) != 2 || ss[1].Scheduler != "wlc" || ss[1].Timeout != 360*time.Second || ss[1].Netmask != netip.MustParseAddr("255.255.255.255") {
		t.Errorf("defaults: %+v", ss[1].ServiceConfig)
	}
	if !isService(b, vip2, 53, UDP) {
		t.Error("port-zero service does not cover port 53")
	}
}

func TestServicesOrderAndZero(t *testing.T) {
	b := New(Config{})
	keys := []ServiceKey{udpKey(vip1, 53), tcpKey(vip2, 80), tcpKey(vip1, 443), tcpKey(vip1, 80)}
	for _, k := range keys {
		mustOK(t, b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr"}))
	}
	for _, r := range []netip.Addr{rip3, rip1, rip2} {
		mustOK(t, b.AddDest(keys[3], DestConfig{Addr: r, Port: 80, Method: MethodDR, Weight: 1}))
	}
	var got []string
	for _, s := range b.Services() {
		got = append(got, s.ServiceKey.String())
	}
	want := "TCP 198.51.100.1:80,TCP 198.51.100.1:443,TCP 198.51.100.2:80,UDP 198.51.100.1:53"
	if strings.Join(got, ",") != want {
		t.Errorf("order %v, want %s", got, want)
	}
	ds := b.Services()[0].Dests
	if ds[0].Addr != rip1 || ds[1].Addr != rip2 || ds[2].Addr != rip3 {
		t.Errorf("dest order %v", ds)
	}
	w := b.NewWorker()
	for i := range 6 {
		if v := w.In(tcpFlow(client(1), uint16(1000+i), vip1, 80), TCPFlagSYN, 60, 0); v.Action != Forward {
			t.Fatalf("SYN %d: %+v", i, v)
		}
	}
	w.Flush()
	s := b.Services()[0]
	if s.Stats != (Stats{Conns: 6, InPkts: 6, InBytes: 360}) {
		t.Errorf("service stats %+v", s.Stats)
	}
	for _, d := range s.Dests {
		if d.Stats != (Stats{Conns: 2, InPkts: 2, InBytes: 120}) || d.InactConns != 2 {
			t.Errorf("dest %s stats %+v inact %d", d.Addr, d.Stats, d.InactConns)
		}
	}
	k := keys[3]
	mustOK(t, b.Zero(&k))
	w.In(tcpFlow(client(1), 1000, vip1, 80), TCPFlagACK, 40, 0)
	w.Flush()
	if s := b.Services()[0]; s.Stats != (Stats{InPkts: 1, InBytes: 40}) {
		t.Errorf("after Zero: %+v", s.Stats)
	}
	mustOK(t, b.Zero(nil))
	if s := b.Services()[0]; s.Stats != (Stats{}) {
		t.Errorf("after Zero(nil): %+v", s.Stats)
	}
}

func TestTimeouts(t *testing.T) {
	b := New(Config{})
	tcp, fin, udp := b.Timeouts()
	if tcp != 900*time.Second || fin != 120*time.Second || udp != 300*time.Second {
		t.Errorf("defaults %v %v %v", tcp, fin, udp)
	}
	mustOK(t, b.SetTimeouts(0, 30*time.Second, 0))
	tcp, fin, udp = b.Timeouts()
	if tcp != 900*time.Second || fin != 30*time.Second || udp != 300*time.Second {
		t.Errorf("after --set 0 30 0: %v %v %v", tcp, fin, udp)
	}
	if b.SetTimeouts(-1, 0, 0) == nil {
		t.Error("negative timeout accepted")
	}
}

// TestActiveInactiveDR walks a DR connection through the input-only table
// and checks IPVS's activeconns/inactconns at each step.
func TestActiveInactiveDR(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	f := tcpFlow(client(1), 4000, vip1, 80)
	now := int64(1000 * sec)
	steps := []struct {
		flags uint8
		state string
		act   [3]int
		tmo   time.Duration
	}{
		{TCPFlagSYN, "SYN_RECV", [3]int{0, 1, 0}, 60 * time.Second},
		{TCPFlagACK, "ESTABLISHED", [3]int{1, 0, 0}, 900 * time.Second},
		{TCPFlagACK, "ESTABLISHED", [3]int{1, 0, 0}, 900 * time.Second},
		{TCPFlagFIN | TCPFlagACK, "FIN_WAIT", [3]int{0, 1, 0}, 120 * time.Second},
		{TCPFlagACK, "FIN_WAIT", [3]int{0, 1, 0}, 120 * time.Second},
		{TCPFlagRST, "CLOSE", [3]int{0, 1, 0}, 10 * time.Second},
	}
	for i, st := range steps {
		v := w.In(f, st.flags, 60, now)
		if v.Action != Forward || v.Method != MethodDR || destOf(v) != netip.AddrPortFrom(rip1, 80) || v.VIP != vip1 || v.VPort != 80 {
			t.Fatalf("step %d: %+v", i, v)
		}
		var ci ConnInfo
		b.Conns(func(c ConnInfo) bool { ci = c; return true })
		if ci.State != st.state || time.Duration(ci.Expires-now) != st.tmo {
			t.Errorf("step %d: state %s expires in %v, want %s %v", i, ci.State, time.Duration(ci.Expires-now), st.state, st.tmo)
		}
		if got := counts(t, b, k, rip1); got != st.act {
			t.Errorf("step %d (%s): counts %v, want %v", i, st.state, got, st.act)
		}
		now += sec
	}
	last := now - sec // the RST
	if n := b.Expire(last+10*sec-1, 1<<20); n != 0 {
		t.Errorf("expired %d before the CLOSE timeout", n)
	}
	if n := b.Expire(last+10*sec, 1<<20); n != 1 {
		t.Errorf("expired %d at the CLOSE timeout, want 1", n)
	}
	if got := counts(t, b, k, rip1); got != [3]int{} || b.NumConns() != 0 {
		t.Errorf("after expiry: counts %v conns %d", got, b.NumConns())
	}
}

func TestNonSYNDropped(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	for _, fl := range []uint8{TCPFlagACK, TCPFlagSYN | TCPFlagRST, TCPFlagFIN, 0} {
		if v := w.In(tcpFlow(client(1), 1, vip1, 80), fl, 40, 0); v.Action != Drop || v.Reason != ReasonNotSYN {
			t.Errorf("flags %#x: %+v", fl, v)
		}
	}
	if v := w.In(tcpFlow(client(1), 1, vip1, 81), TCPFlagSYN, 40, 0); v.Action != Pass || v.Reason != ReasonNoService {
		t.Errorf("no service: %+v", v)
	}
	if b.NumConns() != 0 {
		t.Errorf("%d conns", b.NumConns())
	}
}

func TestUDPAlwaysInactive(t *testing.T) {
	k := udpKey(vip1, 53)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodMasq, rip1)
	f := &Flow{Proto: UDP, Src: client(1), SrcPort: 5353, Dst: vip1, DstPort: 53}
	for i := range 3 {
		if v := w.In(f, 0, 100, int64(i)*sec); v.Action != Forward || v.Method != MethodMasq {
			t.Fatalf("%+v", v)
		}
	}
	if got := counts(t, b, k, rip1); got != [3]int{0, 1, 0} {
		t.Errorf("counts %v", got)
	}
	// Reply refreshes the timeout, and --set udp applies from the next packet.
	mustOK(t, b.SetTimeouts(0, 0, 10*time.Second))
	r := &Flow{Proto: UDP, Src: rip1.As4(), SrcPort: 53, Dst: client(1), DstPort: 5353}
	if v := w.Out(r, 0, 100, 5*sec); v.Action != Forward || v.VIP != vip1 || v.VPort != 53 {
		t.Fatalf("out %+v", v)
	}
	if n := b.Expire(14*sec, 1<<20); n != 0 {
		t.Errorf("expired early")
	}
	if n := b.Expire(15*sec, 1<<20); n != 1 {
		t.Errorf("expired %d, want 1", n)
	}
	if got := counts(t, b, k, rip1); got != [3]int{} {
		t.Errorf("counts after expiry %v", got)
	}
}

func TestOnePacket(t *testing.T) {
	k := udpKey(vip1, 53)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr", OnePacket: true}, MethodDR, rip1, rip2)
	seen := map[netip.AddrPort]int{}
	for range 4 {
		v := w.In(&Flow{Proto: UDP, Src: client(1), SrcPort: 5353, Dst: vip1, DstPort: 53}, 0, 10, 0)
		seen[destOf(v)]++
	}
	if len(seen) != 2 || b.NumConns() != 0 || b.Services()[0].Stats.Conns != 4 {
		t.Errorf("one-packet: seen %v, %d conns, stats %+v", seen, b.NumConns(), b.Services()[0].Stats)
	}
}

func TestRoundRobinAndQuiesce(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1, rip2, rip3)
	per := map[netip.Addr]int{}
	var first [3]netip.Addr
	for i := range 30 {
		v := w.In(tcpFlow(client(1), uint16(2000+i), vip1, 80), TCPFlagSYN, 60, 0)
		if v.Action != Forward {
			t.Fatalf("conn %d: %+v", i, v)
		}
		a := netip.AddrFrom4(v.DestAddr)
		per[a]++
		if i < 3 {
			first[i] = a
		}
	}
	if first[0] == first[1] || first[1] == first[2] || first[0] == first[2] {
		t.Errorf("rr did not cycle: %v", first)
	}
	for _, r := range []netip.Addr{rip1, rip2, rip3} {
		if per[r] != 10 {
			t.Errorf("%s got %d of 30", r, per[r])
		}
	}
	// Quiesce rip1: no new connections, old ones go on.
	mustOK(t, b.EditDest(k, DestConfig{Addr: rip1, Port: 80, Method: MethodDR, Weight: 0}))
	var old *Flow
	for i := range 30 {
		f := tcpFlow(client(1), uint16(2000+i), vip1, 80)
		if v := w.In(f, TCPFlagACK, 40, 0); netip.AddrFrom4(v.DestAddr) == rip1 {
			old = f
		}
	}
	if old == nil {
		t.Fatal("no old flow on rip1")
	}
	for i := range 20 {
		v := w.In(tcpFlow(client(2), uint16(3000+i), vip1, 80), TCPFlagSYN, 60, 0)
		if v.Action != Forward || netip.AddrFrom4(v.DestAddr) == rip1 {
			t.Fatalf("new conn %d went to %v", i, v)
		}
	}
	if v := w.In(old, TCPFlagACK, 40, 0); v.Action != Forward || netip.AddrFrom4(v.DestAddr) != rip1 {
		t.Errorf("old flow after quiesce: %+v", v)
	}
	if got := counts(t, b, k, rip1); got != [3]int{10, 0, 0} {
		t.Errorf("rip1 counts %v", got)
	}
	// All quiesced: no destination.
	for _, r := range []netip.Addr{rip2, rip3} {
		mustOK(t, b.EditDest(k, DestConfig{Addr: r, Port: 80, Method: MethodDR, Weight: 0}))
	}
	if v := w.In(tcpFlow(client(3), 1, vip1, 80), TCPFlagSYN, 60, 0); v.Action != Drop || v.Reason != ReasonNoDest {
		t.Errorf("all quiesced: %+v", v)
	}
}

func TestMasqRoundTrip(t *testing.T) {
	k := tcpKey(vip1, 80)
	b := New(Config{})
	mustOK(t, b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr"}))
	mustOK(t, b.AddDest(k, DestConfig{Addr: rip2, Port: 8080, Method: MethodMasq, Weight: 1}))
	w := b.NewWorker()
	c := client(7)
	in := tcpFlow(c, 40000, vip1, 80)
	out := tcpFlow(rip2.As4(), 8080, c, 40000)
	state := func() string {
		var s string
		b.Conns(func(ci ConnInfo) bool { s = ci.State; return false })
		return s
	}
	v := w.In(in, TCPFlagSYN, 60, 0)
	if v.Action != Forward || v.Method != MethodMasq || destOf(v) != netip.MustParseAddrPort("203.0.113.2:8080") {
		t.Fatalf("in SYN: %+v", v)
	}
	if v := w.Out(out, TCPFlagSYN|TCPFlagACK, 60, sec); v.Action != Forward || v.VIP != vip1 || v.VPort != 80 ||
		destOf(v) != netip.MustParseAddrPort("203.0.113.2:8080") || state() != "SYN_RECV" {
		t.Fatalf("out SYN-ACK: %+v %s", v, state())
	}
	w.In(in, TCPFlagACK, 40, 2*sec)
	if state() != "ESTABLISHED" || counts(t, b, k, rip2) != [3]int{1, 0, 0} {
		t.Fatalf("after ACK: %s %v", state(), counts(t, b, k, rip2))
	}
	// Full table: client FIN → CLOSE_WAIT; server FIN → TIME_WAIT... (kernel: sCW + output fin = sTW).
	w.In(in, TCPFlagFIN|TCPFlagACK, 40, 3*sec)
	if state() != "CLOSE_WAIT" {
		t.Errorf("after client FIN: %s", state())
	}
	w.Out(out, TCPFlagFIN|TCPFlagACK, 40, 4*sec)
	if state() != "TIME_WAIT" || counts(t, b, k, rip2) != [3]int{0, 1, 0} {
		t.Errorf("after server FIN: %s %v", state(), counts(t, b, k, rip2))
	}
	w.Flush()
	s := b.Services()[0]
	if s.Stats.InPkts != 3 || s.Stats.OutPkts != 2 || s.Stats.OutBytes != 100 || s.Dests[0].Stats.OutPkts != 2 {
		t.Errorf("stats %+v / %+v", s.Stats, s.Dests[0].Stats)
	}
	// Unknown reverse tuple.
	if v := w.Out(tcpFlow(rip2.As4(), 8080, c, 40001), TCPFlagACK, 40, 0); v.Action != Pass || v.Reason != ReasonNoConn {
		t.Errorf("unknown out: %+v", v)
	}
	// ICMP errors: from the client side quoting VIP→client; from the
	// realserver side quoting client→RIP.
	if v := w.Related(tcpFlow(vip1, 80, c, 40000), false); v.Action != Forward || destOf(v) != netip.MustParseAddrPort("203.0.113.2:8080") {
		t.Errorf("related in: %+v", v)
	}
	if v := w.Related(tcpFlow(c, 40000, rip2.As4(), 8080), true); v.Action != Forward || v.VIP != vip1 || v.VPort != 80 {
		t.Errorf("related out: %+v", v)
	}
	if v := w.Related(tcpFlow(vip1, 80, c, 1), false); v.Action != Pass {
		t.Errorf("related unknown: %+v", v)
	}
	// A new SYN on the TIME_WAIT connection is a new connection.
	if v := w.In(in, TCPFlagSYN, 60, 5*sec); v.Action != Forward || state() != "SYN_RECV" ||
		b.NumConns() != 1 || b.Services()[0].Stats.Conns != 2 {
		t.Errorf("SYN reuse: %+v %s conns %d", v, state(), b.NumConns())
	}
}

func TestPersistenceNetmask(t *testing.T) {
	k := tcpKey(vip1, 443)
	sc := ServiceConfig{ServiceKey: k, Scheduler: "rr", Persistent: true, Timeout: 100 * time.Second,
		Netmask: netip.MustParseAddr("255.255.255.128")}
	b, w := setup(t, Config{}, sc, MethodDR, rip1, rip2)
	now := int64(0)
	first := w.In(tcpFlow(client(1), 1000, vip1, 443), TCPFlagSYN, 60, now)
	for i := range 10 {
		c := client(2 + i) // 192.0.2.2..11: same /25
		v := w.In(tcpFlow(c, uint16(2000+i), vip1, 443), TCPFlagSYN, 60, now)
		if v.DestAddr != first.DestAddr || v.DestPort != 443 {
			t.Fatalf("client %v went to %v, first to %v", c, destOf(v), destOf(first))
		}
	}
	other := w.In(tcpFlow(client(200), 1000, vip1, 443), TCPFlagSYN, 60, now)
	if other.DestAddr == first.DestAddr {
		t.Errorf("second network scheduled to the same realserver (rr should move on)")
	}
	a1, a2 := netip.AddrFrom4(first.DestAddr), netip.AddrFrom4(other.DestAddr)
	if got := counts(t, b, k, a1); got != [3]int{0, 11, 1} {
		t.Errorf("%s counts %v", a1, got)
	}
	if got := counts(t, b, k, a2); got != [3]int{0, 1, 1} {
		t.Errorf("%s counts %v", a2, got)
	}
	var tmpl []ConnInfo
	b.Conns(func(c ConnInfo) bool {
		if c.Template {
			tmpl = append(tmpl, c)
		}
		return true
	})
	if len(tmpl) != 2 || tmpl[0].State != "NONE" || (tmpl[0].Client.Addr() != netip.MustParseAddr("192.0.2.0") &&
		tmpl[0].Client.Addr() != netip.MustParseAddr("192.0.2.128")) {
		t.Errorf("templates %v", tmpl)
	}
	// Connections expire (SYN_RECV, 60 s); templates live on to 100 s.
	now += 61 * sec
	if n := b.Expire(now, 1<<20); n != 12 {
		t.Errorf("expired %d, want the 12 connections", n)
	}
	if got := counts(t, b, k, a1); got != [3]int{0, 0, 1} {
		t.Errorf("after conn expiry %v", got)
	}
	// Still sticky within the persistence timeout.
	if v := w.In(tcpFlow(client(3), 3000, vip1, 443), TCPFlagSYN, 60, now); v.DestAddr != first.DestAddr {
		t.Errorf("not sticky after conn expiry")
	}
	// The template was refreshed at now (100 s from now) and controls a
	// connection: it outlives its timeout while the connection lives.
	w.In(tcpFlow(client(3), 3000, vip1, 443), TCPFlagACK, 40, now) // ESTABLISHED, 900 s
	now += 200 * sec
	b.Expire(now, 1<<20)
	if got := counts(t, b, k, a1); got != [3]int{1, 0, 1} {
		t.Errorf("template died under its connection: %v", got)
	}
	// Quiescing the realserver invalidates the template (weight 0).
	mustOK(t, b.EditDest(k, DestConfig{Addr: a1, Port: 443, Weight: 0}))
	if v := w.In(tcpFlow(client(4), 4000, vip1, 443), TCPFlagSYN, 60, now); v.DestAddr != other.DestAddr {
		t.Errorf("template to a quiesced realserver reused: %v", destOf(v))
	}
	// a2's first template died at 261 s with its connection gone; the new
	// one counts, and a1's invalidated template still does until it expires.
	if got := counts(t, b, k, a2); got != [3]int{0, 1, 1} {
		t.Errorf("new template not counted: %v", got)
	}
	if got := counts(t, b, k, a1); got != [3]int{1, 0, 1} {
		t.Errorf("invalidated template: %v", got)
	}
	// Everything expires in the end: connections first; templates that
	// controlled them get a fresh timeout (expire_later) and go after it.
	now += 2000 * sec
	b.Expire(now, 1<<20)
	b.Conns(func(c ConnInfo) bool {
		if !c.Template {
			t.Errorf("connection left: %v", c)
		}
		return true
	})
	b.Expire(now+100*sec, 1<<20)
	if b.NumConns() != 0 || counts(t, b, k, a1) != [3]int{} || counts(t, b, k, a2) != [3]int{} {
		t.Errorf("left: %d entries, %v %v", b.NumConns(), counts(t, b, k, a1), counts(t, b, k, a2))
	}
}

func TestKeepQuiescentTemplates(t *testing.T) {
	k := tcpKey(vip1, 443)
	sc := ServiceConfig{ServiceKey: k, Scheduler: "rr", Persistent: true}
	b, w := setup(t, Config{KeepQuiescentTemplates: true}, sc, MethodDR, rip1, rip2)
	first := w.In(tcpFlow(client(1), 1000, vip1, 443), TCPFlagSYN, 60, 0)
	a := netip.AddrFrom4(first.DestAddr)
	mustOK(t, b.EditDest(k, DestConfig{Addr: a, Port: 443, Weight: 0}))
	if v := w.In(tcpFlow(client(1), 1001, vip1, 443), TCPFlagSYN, 60, 0); v.DestAddr != first.DestAddr {
		t.Errorf("expire_quiescent_template=0 semantics broken: %v", destOf(v))
	}
	// Deleting the realserver does invalidate the template.
	mustOK(t, b.DelDest(k, a, 443))
	if v := w.In(tcpFlow(client(1), 1002, vip1, 443), TCPFlagSYN, 60, 0); v.DestAddr == first.DestAddr || v.Action != Forward {
		t.Errorf("template to a deleted realserver reused: %+v", v)
	}
}

func TestPortZeroPersistent(t *testing.T) {
	k := tcpKey(vip1, 0)
	b := New(Config{})
	mustOK(t, b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr", Persistent: true}))
	for _, r := range []netip.Addr{rip1, rip2} {
		mustOK(t, b.AddDest(k, DestConfig{Addr: r, Method: MethodDR, Weight: 1}))
	}
	w := b.NewWorker()
	v80 := w.In(tcpFlow(client(1), 1000, vip1, 80), TCPFlagSYN, 60, 0)
	v443 := w.In(tcpFlow(client(1), 1001, vip1, 443), TCPFlagSYN, 60, 0)
	if v80.Action != Forward || v80.DestAddr != v443.DestAddr || v80.DestPort != 80 || v443.DestPort != 443 || v443.VPort != 443 {
		t.Errorf("port zero: %+v / %+v", v80, v443)
	}
	if got := counts(t, b, k, netip.AddrFrom4(v80.DestAddr)); got != [3]int{0, 2, 1} {
		t.Errorf("counts %v (one template for all ports)", got)
	}
	// A more specific service wins over the port-zero one.
	k80 := tcpKey(vip1, 80)
	mustOK(t, b.AddService(ServiceConfig{ServiceKey: k80, Scheduler: "rr"}))
	mustOK(t, b.AddDest(k80, DestConfig{Addr: rip3, Port: 80, Method: MethodDR, Weight: 1}))
	if v := w.In(tcpFlow(client(2), 1000, vip1, 80), TCPFlagSYN, 60, 0); netip.AddrFrom4(v.DestAddr) != rip3 {
		t.Errorf("port 80 service not preferred: %+v", v)
	}
}

func TestMaxConns(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{MaxConns: 4, Shards: 4}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	for i := range 4 {
		if v := w.In(tcpFlow(client(1), uint16(i+1), vip1, 80), TCPFlagSYN, 60, 0); v.Action != Forward {
			t.Fatalf("conn %d: %+v", i, v)
		}
	}
	if v := w.In(tcpFlow(client(1), 99, vip1, 80), TCPFlagSYN, 60, 0); v.Action != Drop || v.Reason != ReasonTableFull {
		t.Errorf("5th conn: %+v", v)
	}
	if v := w.In(tcpFlow(client(1), 1, vip1, 80), TCPFlagACK, 40, 0); v.Action != Forward {
		t.Errorf("established conn on a full table: %+v", v)
	}
	if got := counts(t, b, k, rip1); got != [3]int{1, 3, 0} {
		t.Errorf("counts %v", got)
	}
	// After expiry there is room again.
	b.Expire(1000*sec, 1<<20)
	if v := w.In(tcpFlow(client(1), 99, vip1, 80), TCPFlagSYN, 60, 1000*sec); v.Action != Forward {
		t.Errorf("after expiry: %+v", v)
	}
}

func TestExpireIncremental(t *testing.T) {
	k := udpKey(vip1, 53)
	b, w := setup(t, Config{Shards: 8}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	const n = 5000
	for i := range n {
		w.In(&Flow{Proto: UDP, Src: client(1 + i%200), SrcPort: uint16(1000 + i), Dst: vip1, DstPort: 53}, 0, 10, 0)
	}
	if b.NumConns() != n {
		t.Fatalf("%d conns", b.NumConns())
	}
	now := 301 * sec
	total, calls := 0, 0
	for b.NumConns() > 0 {
		if calls++; calls > 1000 {
			t.Fatalf("expiry not progressing: %d left", b.NumConns())
		}
		e := b.Expire(now, 100)
		if e > 100 {
			t.Fatalf("expired %d with budget 100", e)
		}
		total += e
	}
	if total != n || counts(t, b, k, rip1) != [3]int{} {
		t.Errorf("expired %d, counts %v", total, counts(t, b, k, rip1))
	}
	// Freed slots are reused.
	used := 0
	for i := range b.t.shards {
		used += int(b.t.shards[i].used)
	}
	for i := range n {
		w.In(&Flow{Proto: UDP, Src: client(1 + i%200), SrcPort: uint16(9000 + i), Dst: vip1, DstPort: 53}, 0, 10, now)
	}
	used2 := 0
	for i := range b.t.shards {
		used2 += int(b.t.shards[i].used)
	}
	if used2 > used+n/2 {
		t.Errorf("slots grew from %d to %d: free list not reused", used, used2)
	}
}

func TestDestDeleteLiveConns(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodMasq, rip1, rip2)
	var onRip1 []*Flow
	for i := range 10 {
		f := tcpFlow(client(1), uint16(1000+i), vip1, 80)
		v := w.In(f, TCPFlagSYN, 60, 0)
		w.In(f, TCPFlagACK, 40, 0)
		if netip.AddrFrom4(v.DestAddr) == rip1 {
			onRip1 = append(onRip1, f)
		}
	}
	if len(onRip1) != 5 {
		t.Fatalf("%d flows on rip1", len(onRip1))
	}
	old := b.Services()[0].Dests[0]
	mustOK(t, b.DelDest(k, rip1, 80))
	if ds := b.Services()[0].Dests; len(ds) != 1 || ds[0].Addr != rip2 {
		t.Fatalf("dests after delete %v", ds)
	}
	for _, f := range onRip1 {
		if v := w.In(f, TCPFlagACK, 40, sec); v.Action != Forward || netip.AddrFrom4(v.DestAddr) != rip1 {
			t.Fatalf("live conn after delete: %+v", v)
		}
		if v := w.Out(tcpFlow(rip1.As4(), 80, f.Src, f.SrcPort), TCPFlagACK, 40, sec); v.Action != Forward {
			t.Fatalf("live masq reply after delete: %+v", v)
		}
	}
	for i := range 10 {
		if v := w.In(tcpFlow(client(2), uint16(i+1), vip1, 80), TCPFlagSYN, 60, sec); netip.AddrFrom4(v.DestAddr) != rip2 {
			t.Fatalf("new conn to deleted realserver")
		}
	}
	if got := old.ID; b.destReg[got] == nil || !b.destReg[got].trashed || b.destReg[got].d.ActiveConns() != 5 {
		t.Fatalf("trashed dest state wrong")
	}
	// Re-adding brings it back with its counters.
	mustOK(t, b.AddDest(k, DestConfig{Addr: rip1, Port: 80, Method: MethodMasq, Weight: 1}))
	d := destStatus(t, b, k, rip1)
	if d.ID != old.ID || d.ActiveConns != 5 || d.Stats.Conns != 5 {
		t.Errorf("revived %+v", d)
	}
	mustOK(t, b.DelDest(k, rip1, 80))
	// Expire everything; the trashed dest is freed after its grace period.
	now := 2000 * sec
	b.Expire(now, 1<<20)
	b.Expire(now+2*sec, 1<<20)
	if b.NumConns() != 0 {
		t.Fatalf("%d conns left", b.NumConns())
	}
	if b.destReg[old.ID] != nil {
		t.Errorf("trashed realserver not freed")
	}
	if b.snap.Load().dests[old.ID] != nil {
		t.Errorf("freed realserver still in the snapshot")
	}
}

func TestDelServiceLiveConns(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	f := tcpFlow(client(1), 1000, vip1, 80)
	w.In(f, TCPFlagSYN, 60, 0)
	b.Clear()
	if len(b.Services()) != 0 || isService(b, vip1, 80, TCP) {
		t.Fatal("service survived Clear")
	}
	if v := w.In(f, TCPFlagACK, 40, 0); v.Action != Forward || netip.AddrFrom4(v.DestAddr) != rip1 {
		t.Errorf("conn after Clear: %+v", v)
	}
	if v := w.In(tcpFlow(client(1), 1001, vip1, 80), TCPFlagSYN, 60, 0); v.Action != Pass {
		t.Errorf("new conn after Clear: %+v", v)
	}
	b.Expire(10000*sec, 1<<20)
	b.Expire(10002*sec, 1<<20)
	if len(b.destReg) != 1 || b.destReg[0] != nil || b.svcReg[0] != nil {
		t.Errorf("registry not purged: %v %v", b.destReg, b.svcReg)
	}
}

func TestEditDestMethod(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	f := tcpFlow(client(1), 1000, vip1, 80)
	w.In(f, TCPFlagSYN, 60, 0)
	w.Flush() // the batch with the SYN ends before the change
	mustOK(t, b.EditDest(k, DestConfig{Addr: rip1, Port: 80, Method: MethodTun, Weight: 2}))
	if v := w.In(f, TCPFlagACK, 40, 0); v.Method != MethodDR {
		t.Errorf("old conn changed method: %+v", v)
	}
	if v := w.In(tcpFlow(client(1), 1001, vip1, 80), TCPFlagSYN, 60, 0); v.Method != MethodTun {
		t.Errorf("new conn method: %+v", v)
	}
	w.Flush()
	d := destStatus(t, b, k, rip1)
	// The counters carry over to the replacement; the old connection's
	// later packets count on the retired realserver.
	if d.Method != MethodTun || d.Weight != 2 || d.Stats.Conns != 2 || d.Stats.InPkts != 2 || d.InactConns != 1 {
		t.Errorf("after method change %+v", d)
	}
}

func TestEditService(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1, rip2)
	mustOK(t, b.EditService(ServiceConfig{ServiceKey: k, Scheduler: "wrr", Persistent: true, Timeout: 30 * time.Second}))
	s := b.Services()[0]
	if s.Scheduler != "wrr" || !s.Persistent || s.Timeout != 30*time.Second {
		t.Errorf("after edit %+v", s.ServiceConfig)
	}
	v1 := w.In(tcpFlow(client(1), 1, vip1, 80), TCPFlagSYN, 60, 0)
	v2 := w.In(tcpFlow(client(1), 2, vip1, 80), TCPFlagSYN, 60, 0)
	if v1.Action != Forward || v1.DestAddr != v2.DestAddr {
		t.Errorf("edited service not persistent: %+v %+v", v1, v2)
	}
}

func TestConnsListing(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{Shards: 2}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodDR, rip1)
	for i := range 600 {
		w.In(tcpFlow(client(1), uint16(1+i), vip1, 80), TCPFlagSYN, 60, 0)
	}
	n := 0
	seen := map[string]bool{}
	b.Conns(func(c ConnInfo) bool {
		n++
		seen[c.String()] = true
		return true
	})
	if n != 600 || len(seen) != 600 {
		t.Errorf("listed %d (%d distinct)", n, len(seen))
	}
	n = 0
	b.Conns(func(ConnInfo) bool { n++; return n < 10 })
	if n != 10 {
		t.Errorf("stop after 10: %d", n)
	}
	want := "TCP SYN_RECV 192.0.2.1:1 198.51.100.1:80 203.0.113.1:80"
	if !seen[want] {
		t.Errorf("missing %q", want)
	}
}

func TestAllocs(t *testing.T) {
	k := tcpKey(vip1, 80)
	b, w := setup(t, Config{Shards: 4}, ServiceConfig{ServiceKey: k, Scheduler: "rr"}, MethodMasq, rip1, rip2)
	f := tcpFlow(client(1), 1000, vip1, 80)
	w.In(f, TCPFlagSYN, 60, 0)
	if a := testing.AllocsPerRun(1000, func() { w.In(f, TCPFlagACK, 1500, 0) }); a != 0 {
		t.Errorf("established In: %v allocs", a)
	}
	r := tcpFlow(rip1.As4(), 80, client(1), 1000)
	if v := w.Out(r, TCPFlagACK, 0, 0); v.Action != Forward {
		r.Src = rip2.As4()
	}
	if a := testing.AllocsPerRun(1000, func() { w.Out(r, TCPFlagACK, 1500, 0) }); a != 0 {
		t.Errorf("Out: %v allocs", a)
	}
	// New connections after warm-up: fill, expire, refill from the free list.
	const n = 4000
	for i := range n {
		w.In(tcpFlow(client(2+i%100), uint16(1+i), vip1, 80), TCPFlagSYN, 60, 0)
	}
	b.Expire(1000*sec, 1<<30)
	i := 0
	nf := tcpFlow(client(3), 1, vip1, 80)
	if a := testing.AllocsPerRun(n/2, func() {
		nf.Src, nf.SrcPort = client(2+i%100), uint16(1+i)
		i++
		w.In(nf, TCPFlagSYN, 60, 1000*sec)
	}); a != 0 {
		t.Errorf("new connection: %v allocs", a)
	}
	// Persistent new connections.
	mustOK(t, b.EditService(ServiceConfig{ServiceKey: k, Scheduler: "rr", Persistent: true}))
	nf.Src = client(200)
	w.In(nf, TCPFlagSYN, 60, 1000*sec)
	if a := testing.AllocsPerRun(n/4, func() {
		nf.SrcPort = uint16(10000 + i)
		i++
		w.In(nf, TCPFlagSYN, 60, 1000*sec)
	}); a != 0 {
		t.Errorf("persistent new connection: %v allocs", a)
	}
}

func ExampleBalancer() {
	b := New(Config{})
	k := ServiceKey{Proto: TCP, Addr: netip.MustParseAddr("198.51.100.1"), Port: 80}
	_ = b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr"})
	_ = b.AddDest(k, DestConfig{Addr: netip.MustParseAddr("203.0.113.1"), Port: 80, Method: MethodDR, Weight: 1})
	w := b.NewWorker()
	f := Flow{Proto: TCP, Src: [4]byte{192, 0, 2, 1}, SrcPort: 40000, Dst: [4]byte{198, 51, 100, 1}, DstPort: 80}
	v := w.In(&f, TCPFlagSYN, 60, 0)
	fmt.Println(v.Action, v.Method, netip.AddrFrom4(v.DestAddr), v.DestPort)
	// Output: forward Route 203.0.113.1 80
}
