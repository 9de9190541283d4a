package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/xdpshed"
)

// The worker's whole per-packet path (parse, balancer, rewrite, queue)
// without sockets: frames go in through a slice and come out in a sink.

var (
	portMAC  = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	clientHW = [6]byte{0x02, 0, 0, 0, 0, 0xc1}
	rsMAC    = [6]byte{0x02, 0, 0, 0, 0, 0x51}
	gwMAC    = [6]byte{0x02, 0, 0, 0, 0, 0x99}
	vipA     = [4]byte{198, 51, 100, 1}
	clientA  = [4]byte{192, 0, 2, 2}
	rsA      = [4]byte{203, 0, 113, 11}
	dirA     = [4]byte{203, 0, 113, 1}
)

const testIfindex = 7

type mapHops map[[4]byte][6]byte

func (m mapHops) Resolve(dst [4]byte) (mac [6]byte, ifindex int, src [4]byte, ok bool) {
	mac, ok = m[dst]
	if !ok {
		mac, ok = m[[4]byte{}] // default route
	}
	return mac, testIfindex, dirA, ok
}

type sink struct{ frames [][]byte }

func (s *sink) SendBatch(frames [][]byte, hdrs []Offload) (int, error) {
	for _, f := range frames {
		s.frames = append(s.frames, append([]byte(nil), f...))
	}
	return len(frames), nil
}

// countSink only counts, so benchmarks measure the worker.
type countSink struct{ n int }

func (s *countSink) SendBatch(frames [][]byte, hdrs []Offload) (int, error) {
	s.n += len(frames)
	return len(frames), nil
}

func newTestWorker(t testing.TB, m balancer.Method, tx Sender) *Worker {
	t.Helper()
	bal := balancer.New(balancer.Config{MaxConns: 1 << 16})
	key := balancer.ServiceKey{Proto: balancer.TCP, Addr: netip.AddrFrom4(vipA), Port: 80}
	if err := bal.AddService(balancer.ServiceConfig{ServiceKey: key, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	ukey := balancer.ServiceKey{Proto: balancer.UDP, Addr: netip.AddrFrom4(vipA), Port: 53}
	if err := bal.AddService(balancer.ServiceConfig{ServiceKey: ukey, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []balancer.ServiceKey{key, ukey} {
		if err := bal.AddDest(k, balancer.DestConfig{Addr: netip.AddrFrom4(rsA), Port: 8080, Method: m, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	snap := new(atomic.Pointer[Snapshot])
	snap.Store(&Snapshot{Master: true, VIPs: map[[4]byte]struct{}{vipA: {}}})
	return New(Config{
		Ports:       []Port{{Ifindex: testIfindex, MAC: portMAC, MTU: 1500}},
		Tx:          []Sender{tx},
		Balancer:    bal.NewWorker(),
		Snapshot:    snap,
		Resolver:    mapHops{rsA: rsMAC, {}: gwMAC},
		BatchFrames: 256,
		SendBatch:   afpacket.MaxBatch,
		Seed:        1,
	})
}

// frame builds a client frame with headroom in front, as the ring has it.
func frame(t testing.TB, l ...gopacket.SerializableLayer) Frame {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l...); err != nil {
		t.Fatal(err)
	}
	b := append(make([]byte, Headroom), buf.Bytes()...)
	return Frame{Data: b[Headroom:], Buf: b, Headroom: Headroom, Len: len(b) - Headroom, Ifindex: testIfindex}
}

func tcpFrame(t testing.TB, sport uint16, syn bool, payload []byte) Frame {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(clientHW[:]), DstMAC: net.HardwareAddr(portMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP(clientA[:]), DstIP: net.IP(vipA[:]), Flags: layers.IPv4DontFragment, Id: 77}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 80, Seq: 1000, SYN: syn, ACK: !syn, Window: 512}
	tcp.SetNetworkLayerForChecksum(ip)
	return frame(t, eth, ip, tcp, gopacket.Payload(payload))
}

func decode(t *testing.T, b []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("output does not decode: %v", el.Error())
	}
	return p
}

// checksumsValid recomputes the IPv4 and TCP/UDP checksums of p.
func checksumsValid(t *testing.T, p gopacket.Packet) {
	t.Helper()
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	want := ip.Checksum
	raw := append([]byte(nil), ip.Contents...)
	raw[10], raw[11] = 0, 0
	if got := foldSum(raw, 0); got != want {
		t.Errorf("IPv4 checksum %#04x, recomputed %#04x", want, got)
	}
	if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		seg := append(append([]byte(nil), tcp.Contents...), tcp.Payload...)
		seg[16], seg[17] = 0, 0
		if got := foldSum(seg, pseudo(ip, len(seg))); got != tcp.Checksum {
			t.Errorf("TCP checksum %#04x, recomputed %#04x", tcp.Checksum, got)
		}
	}
}

func pseudo(ip *layers.IPv4, n int) uint32 {
	var s uint32
	for _, a := range [][]byte{ip.SrcIP.To4(), ip.DstIP.To4()} {
		s += uint32(a[0])<<8 | uint32(a[1])
		s += uint32(a[2])<<8 | uint32(a[3])
	}
	return s + uint32(ip.Protocol) + uint32(n)
}

func foldSum(b []byte, s uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func run1(w *Worker, f Frame) {
	w.now = Monotonic()
	w.handle(&f)
	w.flush()
}

func TestWorkerDR(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodDR, s)
	in := tcpFrame(t, 40000, true, nil)
	orig := append([]byte(nil), in.Data...)
	run1(w, in)
	if len(s.frames) != 1 {
		t.Fatalf("sent %d frames, want 1 (counters %v)", len(s.frames), w.counters)
	}
	out := s.frames[0]
	p := decode(t, out)
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if [6]byte(eth.DstMAC) != rsMAC || [6]byte(eth.SrcMAC) != portMAC {
		t.Errorf("DR MACs %v -> %v, want %v -> %v", eth.SrcMAC, eth.DstMAC, net.HardwareAddr(portMAC[:]), net.HardwareAddr(rsMAC[:]))
	}
	// Ethernet padding after the IP packet is not sent (the NIC re-pads).
	if len(out) != 54 || string(out[12:]) != string(orig[12:len(out)]) {
		t.Errorf("DR changed bytes after the MAC addresses:\n% x\n% x", orig, out)
	}
}

func TestWorkerMasqBothWays(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodMasq, s)
	run1(w, tcpFrame(t, 40001, true, nil))
	if len(s.frames) != 1 {
		t.Fatalf("sent %d frames, want 1 (counters %v)", len(s.frames), w.counters)
	}
	p := decode(t, s.frames[0])
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if [4]byte(ip.DstIP.To4()) != rsA || tcp.DstPort != 8080 || [4]byte(ip.SrcIP.To4()) != clientA || tcp.SrcPort != 40001 {
		t.Errorf("DNAT gave %v:%d -> %v:%d", ip.SrcIP, tcp.SrcPort, ip.DstIP, tcp.DstPort)
	}
	if eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); [6]byte(eth.DstMAC) != rsMAC {
		t.Errorf("DNAT frame to %v, want the realserver's MAC", eth.DstMAC)
	}
	checksumsValid(t, p)

	// The reply: RS:8080 -> client:40001 becomes VIP:80 -> client, to the gateway.
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(rsMAC[:]), DstMAC: net.HardwareAddr(portMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	rip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP(rsA[:]), DstIP: net.IP(clientA[:])}
	rtcp := &layers.TCP{SrcPort: 8080, DstPort: 40001, SYN: true, ACK: true, Seq: 5, Ack: 1001, Window: 100}
	rtcp.SetNetworkLayerForChecksum(rip)
	run1(w, frame(t, eth, rip, rtcp, gopacket.Payload([]byte("hello"))))
	if len(s.frames) != 2 {
		t.Fatalf("reply: sent %d frames in all, want 2 (counters %v)", len(s.frames), w.counters)
	}
	p = decode(t, s.frames[1])
	ip = p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp = p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if [4]byte(ip.SrcIP.To4()) != vipA || tcp.SrcPort != 80 || [4]byte(ip.DstIP.To4()) != clientA || tcp.DstPort != 40001 {
		t.Errorf("SNAT gave %v:%d -> %v:%d", ip.SrcIP, tcp.SrcPort, ip.DstIP, tcp.DstPort)
	}
	if eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); [6]byte(eth.DstMAC) != gwMAC || [6]byte(eth.SrcMAC) != portMAC {
		t.Errorf("SNAT frame %v -> %v, want %v -> gateway", eth.SrcMAC, eth.DstMAC, net.HardwareAddr(portMAC[:]))
	}
	checksumsValid(t, p)
}

func TestWorkerTunnel(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodTun, s)
	in := tcpFrame(t, 40002, true, []byte("payload"))
	inner := append([]byte(nil), in.Data[14:]...)
	run1(w, in)
	if len(s.frames) != 1 {
		t.Fatalf("sent %d frames, want 1 (counters %v)", len(s.frames), w.counters)
	}
	p := decode(t, s.frames[0])
	outer := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if outer.Protocol != layers.IPProtocolIPv4 || [4]byte(outer.SrcIP.To4()) != dirA || [4]byte(outer.DstIP.To4()) != rsA {
		t.Fatalf("outer header %v -> %v proto %v", outer.SrcIP, outer.DstIP, outer.Protocol)
	}
	if outer.Flags&layers.IPv4DontFragment == 0 || outer.TTL != 64 || int(outer.Length) != len(inner)+20 {
		t.Errorf("outer flags %v TTL %d length %d (inner %d)", outer.Flags, outer.TTL, outer.Length, len(inner))
	}
	if string(s.frames[0][34:]) != string(inner) {
		t.Errorf("inner packet changed by encapsulation")
	}
}

func TestWorkerTunnelFragNeeded(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodTun, s)
	run1(w, tcpFrame(t, 40003, true, make([]byte, 1460))) // 1500 bytes of IP, DF
	if len(s.frames) != 1 {
		t.Fatalf("sent %d frames, want the ICMP error (counters %v)", len(s.frames), w.counters)
	}
	p := decode(t, s.frames[0])
	icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok || icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 4) {
		t.Fatalf("want ICMP fragmentation needed, got %v", p)
	}
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if [4]byte(ip.DstIP.To4()) != clientA || [4]byte(ip.SrcIP.To4()) != vipA {
		t.Errorf("ICMP %v -> %v, want VIP -> client", ip.SrcIP, ip.DstIP)
	}
	if mtu := uint16(icmp.Seq); mtu != 1480 {
		t.Errorf("next-hop MTU %d, want 1480", mtu)
	}
}

func TestWorkerARPAndEcho(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodDR, s)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(clientHW[:]), DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	req := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: clientHW[:], SourceProtAddress: clientA[:], DstHwAddress: make([]byte, 6), DstProtAddress: vipA[:]}
	run1(w, frame(t, eth, req))
	other := *req
	other.DstProtAddress = []byte{198, 51, 100, 77}
	run1(w, frame(t, eth, &other)) // not a VIP: no answer
	if len(s.frames) != 1 {
		t.Fatalf("sent %d frames, want 1 ARP reply", len(s.frames))
	}
	arp := decode(t, s.frames[0]).Layer(layers.LayerTypeARP).(*layers.ARP)
	if arp.Operation != layers.ARPReply || [6]byte(arp.SourceHwAddress) != portMAC || [4]byte(arp.SourceProtAddress) != vipA {
		t.Errorf("ARP reply %+v", arp)
	}

	e := &layers.Ethernet{SrcMAC: net.HardwareAddr(clientHW[:]), DstMAC: net.HardwareAddr(portMAC[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP(clientA[:]), DstIP: net.IP(vipA[:])}
	echo := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 9, Seq: 1}
	run1(w, frame(t, e, ip, echo, gopacket.Payload([]byte("ping"))))
	if len(s.frames) != 2 {
		t.Fatalf("no echo reply (counters %v)", w.counters)
	}
	p := decode(t, s.frames[1])
	rep := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	rip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if rep.TypeCode.Type() != 0 || [4]byte(rip.SrcIP.To4()) != vipA || [4]byte(rip.DstIP.To4()) != clientA {
		t.Errorf("echo reply %v from %v to %v", rep.TypeCode, rip.SrcIP, rip.DstIP)
	}
	checksumsValid(t, p)
}

func TestWorkerCountsBadFrames(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodDR, s)
	f := tcpFrame(t, 40004, true, nil)
	f.Data[24] ^= 0xff // IPv4 header checksum
	run1(w, f)
	g := tcpFrame(t, 40005, false, nil) // not a SYN: no connection
	run1(w, g)
	h := tcpFrame(t, 40006, true, nil)
	h.Data, h.Len = h.Data[:20], 20
	run1(w, h)
	if len(s.frames) != 0 {
		t.Fatalf("bad frames were forwarded")
	}
	if w.counters[BadIPChecksum] != 1 || w.counters[NotSYN] != 1 || w.counters[ParseErrorCounter(forward.ErrShort)] != 1 {
		t.Fatalf("counters %v", w.counters)
	}
}

func TestWorkerZeroAllocs(t *testing.T) {
	for _, m := range []balancer.Method{balancer.MethodDR, balancer.MethodMasq, balancer.MethodTun} {
		w := newTestWorker(t, m, &countSink{})
		syn := tcpFrame(t, 40100, true, nil)
		run1(w, syn)
		ack := tcpFrame(t, 40100, false, make([]byte, 18))
		buf := append([]byte(nil), ack.Buf...)
		allocs := testing.AllocsPerRun(200, func() {
			copy(ack.Buf, buf)
			w.handle(&ack)
			w.flush()
		})
		if allocs != 0 {
			t.Errorf("method %v: %v allocations per established packet, want 0", m, allocs)
		}
	}
}

// BenchmarkWorker is the whole per-packet path for an established flow:
// parse, connection lookup, rewrite, queue and flush (to a counting sink),
// over one hot flow and over 4096 flows (connection entries and frames out
// of the caches). Each frame's headers are restored before it is handled
// again (a 74-byte copy, included in the figure).
func BenchmarkWorker(b *testing.B) {
	for _, m := range []balancer.Method{balancer.MethodDR, balancer.MethodMasq, balancer.MethodTun} {
		for _, flows := range []int{1, 4096} {
			b.Run(fmt.Sprintf("%v/flows=%d", m, flows), func(b *testing.B) {
				w := newTestWorker(b, m, &countSink{})
				frames := make([]Frame, flows)
				pristine := make([][]byte, flows)
				for i := range flows {
					run1(w, tcpFrame(b, uint16(10000+i), true, nil))
					frames[i] = tcpFrame(b, uint16(10000+i), false, make([]byte, 18))
					pristine[i] = append([]byte(nil), frames[i].Buf...)
				}
				w.now = Monotonic()
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					f := &frames[i%flows]
					copy(f.Buf[Headroom-20:Headroom+54], pristine[i%flows][Headroom-20:Headroom+54])
					w.handle(f)
					if i%64 == 63 {
						w.flush()
					}
				}
				w.flush()
			})
		}
	}
}

// sliceRx hands out one batch per Recv from a list, then closes stop.
type sliceRx struct {
	batches  [][]Frame
	stop     chan struct{}
	released int
}

func (r *sliceRx) Recv(b *Batch, _ time.Duration) (int, error) {
	if len(r.batches) == 0 {
		close(r.stop)
		return 0, nil
	}
	n := copy(b.Frames, r.batches[0])
	r.batches = r.batches[1:]
	return n, nil
}

func (r *sliceRx) Release() { r.released++ }

// backlogRx is a sliceRx whose ring reports backlog[i] blocks waiting
// after the i-th batch.
type backlogRx struct {
	sliceRx
	backlog []int
	calls   int
}

func (r *backlogRx) Backlog(limit int) int {
	v := r.backlog[r.calls]
	r.calls++
	return min(v, limit)
}

// gateSink records the gate's congestion count at every send.
type gateSink struct {
	gate *xdpshed.Gate
	seen []int
}

func (s *gateSink) SendBatch(frames [][]byte, _ []Offload) (int, error) {
	s.seen = append(s.seen, s.gate.Congested())
	return len(frames), nil
}

// TestWorkerShedding checks that the worker raises its interface's
// congestion count when blocks pile up in its ring and lowers it when it
// has caught up (xdpshed.Valve with high 3, low 1).
func TestWorkerShedding(t *testing.T) {
	gate := xdpshed.NewGate()
	sink := &gateSink{gate: gate}
	w := newTestWorker(t, balancer.MethodDR, sink)
	rx := &backlogRx{sliceRx: sliceRx{stop: make(chan struct{})}, backlog: []int{0, 3, 5, 2, 1, 4}}
	for i := range rx.backlog {
		rx.batches = append(rx.batches, []Frame{tcpFrame(t, uint16(42000+i), true, nil)})
	}
	w.rx, w.backlog, w.valve = rx, rx, xdpshed.NewValve(gate, 3, 1)
	if err := w.Run(rx.stop); err != nil {
		t.Fatal(err)
	}
	// Each send sees the count left by the batch before it.
	if want := []int{0, 0, 1, 1, 1, 0}; !slices.Equal(sink.seen, want) {
		t.Errorf("congestion seen by each batch %v, want %v", sink.seen, want)
	}
	// The last batch left 4 blocks waiting (shedding); the empty receive
	// after it (nothing waiting) and the worker's exit lower the count.
	if got := gate.Congested(); got != 0 {
		t.Errorf("after the worker stopped: congested %d, want 0", got)
	}
}

// slowSink spends at least delay in every SendBatch (a busy wait against a
// deadline), as a blocked transmit or a contended lock would.
type slowSink struct{ delay time.Duration }

func (s slowSink) SendBatch(frames [][]byte, _ []Offload) (int, error) {
	for deadline := time.Now().Add(s.delay); time.Now().Before(deadline); {
	}
	return len(frames), nil
}

func TestWorkerBatchMax(t *testing.T) {
	const delay = 3 * time.Millisecond
	w := newTestWorker(t, balancer.MethodDR, slowSink{delay})
	rx := &sliceRx{stop: make(chan struct{})}
	for i := range 3 {
		rx.batches = append(rx.batches, []Frame{tcpFrame(t, uint16(41000+i), true, nil)})
	}
	w.rx = rx
	if err := w.Run(rx.stop); err != nil {
		t.Fatal(err)
	}
	if rx.released != 3 || w.Counters()[Tx] != 3 {
		t.Fatalf("released %d batches, sent %d frames: want 3, 3", rx.released, w.Counters()[Tx])
	}
	if got := w.TakeBatchMax(); got < int64(delay) {
		t.Errorf("worst batch %v, want at least the sink's %v", time.Duration(got), delay)
	}
	if got := w.TakeBatchMax(); got != 0 {
		t.Errorf("worst batch %v after it was taken, want 0", time.Duration(got))
	}

	// The maximum spans publishes until it is taken, and a batch that
	// ends before the previous one's is not a new maximum.
	w.now = 1000
	w.endBatch(1000 + 7000)
	w.publish(true)
	w.endBatch(1000 + 2000)
	w.publish(true)
	if got := w.TakeBatchMax(); got != 7000 {
		t.Errorf("worst batch %d ns over two publishes, want 7000", got)
	}
}

// Every reason forward.Parse gives has a counter of its own, named for
// metrics, and no two counters share a name.
func TestCounterNames(t *testing.T) {
	seen := map[string]Counter{}
	for c := range NumCounters {
		n := c.String()
		if n == "" || n == "unknown" {
			t.Errorf("counter %d has no name", c)
		}
		if o, dup := seen[n]; dup {
			t.Errorf("counters %d and %d are both %q", o, c, n)
		}
		seen[n] = c
	}
	for e := range forward.NumParseErrors {
		if got, want := ParseErrorCounter(e).String(), "parse_"+e.Name(); got != want {
			t.Errorf("%v counts as %q, want %q", e, got, want)
		}
		if parseErrorCounter(e) != ParseErrorCounter(e) {
			t.Errorf("%v: parseErrorCounter disagrees", e)
		}
	}
}
