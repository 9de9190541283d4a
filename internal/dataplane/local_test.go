package dataplane

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/govs-lb/govs/balancer"
)

var tapHW = [6]byte{0x02, 0, 0, 0, 0, 0x7a}

// withTap publishes a snapshot in which the tap is up and holds vips,
// with rips as local masq realservers, and catches what goes into the tap.
func withTap(w *Worker, master bool, vips, rips [][4]byte) *sink {
	s := *w.snap.Load()
	s.Master = master
	s.Local = LocalSnapshot{Up: true, TapMAC: tapHW, VIPs: map[[4]byte]struct{}{}, RIPs: map[[4]byte]struct{}{}}
	for _, a := range vips {
		s.Local.VIPs[a] = struct{}{}
	}
	for _, a := range rips {
		s.Local.RIPs[a] = struct{}{}
	}
	w.snap.Store(&s)
	tap := &sink{}
	w.tapq.tx = tap
	return tap
}

func TestWorkerLocalNode(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodLocal, s)
	tap := withTap(w, true, [][4]byte{vipA}, nil)
	in := tcpFrame(t, 40100, true, nil)
	orig := append([]byte(nil), in.Data...)
	run1(w, in)
	if len(tap.frames) != 1 || len(s.frames) != 0 {
		t.Fatalf("%d frames into the tap, %d out (counters %v), want 1 and 0", len(tap.frames), len(s.frames), w.counters)
	}
	out := tap.frames[0]
	if [6]byte(out[0:6]) != tapHW {
		t.Errorf("frame into the tap to %x, want the tap's MAC", out[0:6])
	}
	if string(out[6:]) != string(orig[6:len(out)]) {
		t.Errorf("LocalNode changed more than the destination MAC:\n% x\n% x", orig, out)
	}

	// Without the tap, nothing is sent and the drop is counted.
	snap := *w.snap.Load()
	snap.Local.Up = false
	w.snap.Store(&snap)
	run1(w, tcpFrame(t, 40101, true, nil))
	if len(tap.frames) != 1 || w.counters[LocalUnsupported] != 1 {
		t.Errorf("without a tap: %d frames, local_unsupported %d", len(tap.frames), w.counters[LocalUnsupported])
	}
}

func TestWorkerLocalMasqBothWays(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodMasq, s)
	tap := withTap(w, true, [][4]byte{vipA}, [][4]byte{rsA})
	run1(w, tcpFrame(t, 40200, true, nil))
	if len(tap.frames) != 1 || len(s.frames) != 0 {
		t.Fatalf("%d frames into the tap, %d out (counters %v), want 1 and 0", len(tap.frames), len(s.frames), w.counters)
	}
	p := decode(t, tap.frames[0])
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if [4]byte(ip.DstIP.To4()) != rsA || tcp.DstPort != 8080 {
		t.Errorf("local masq DNAT gave %v:%d", ip.DstIP, tcp.DstPort)
	}
	if eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); [6]byte(eth.DstMAC) != tapHW {
		t.Errorf("DNAT frame to %v, want the tap's MAC", eth.DstMAC)
	}
	checksumsValid(t, p)

	// The reply comes out of the tap (policy routing) and goes to the client.
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(tapHW[:]), DstMAC: net.HardwareAddr(tapHW[:]), EthernetType: layers.EthernetTypeIPv4}
	rip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP(rsA[:]), DstIP: net.IP(clientA[:])}
	rtcp := &layers.TCP{SrcPort: 8080, DstPort: 40200, SYN: true, ACK: true, Seq: 9, Ack: 1001, Window: 100}
	rtcp.SetNetworkLayerForChecksum(rip)
	f := frame(t, eth, rip, rtcp, gopacket.Payload([]byte("hi")))
	w.now = Monotonic()
	w.handleTap(&f)
	w.flush()
	if len(s.frames) != 1 {
		t.Fatalf("reply: %d frames out, want 1 (counters %v)", len(s.frames), w.counters)
	}
	p = decode(t, s.frames[0])
	ip = p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp = p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if [4]byte(ip.SrcIP.To4()) != vipA || tcp.SrcPort != 80 || [4]byte(ip.DstIP.To4()) != clientA {
		t.Errorf("reply SNAT gave %v:%d -> %v", ip.SrcIP, tcp.SrcPort, ip.DstIP)
	}
	if eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); [6]byte(eth.SrcMAC) != portMAC || [6]byte(eth.DstMAC) != gwMAC {
		t.Errorf("reply frame %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	checksumsValid(t, p)
}

func TestWorkerBackupIsARealserver(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodDR, s) // the master's view: a remote realserver
	tap := withTap(w, false, [][4]byte{vipA}, nil)
	run1(w, tcpFrame(t, 40300, true, nil))
	run1(w, tcpFrame(t, 40300, false, []byte("data"))) // no SYN: no connection needed
	if len(tap.frames) != 2 || len(s.frames) != 0 {
		t.Fatalf("backup: %d frames into the tap, %d out (counters %v), want 2 and 0", len(tap.frames), len(s.frames), w.counters)
	}
	// A backup answers no ARP for the VIP.
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(clientHW[:]), DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: clientHW[:], SourceProtAddress: clientA[:], DstHwAddress: make([]byte, 6), DstProtAddress: vipA[:]}
	run1(w, frame(t, eth, arp))
	if len(s.frames) != 0 || w.counters[ARPReply] != 0 {
		t.Errorf("a backup answered ARP for the VIP (%d frames)", len(s.frames))
	}
}

func TestWorkerNotSYNGoesToLocalStack(t *testing.T) {
	s := &sink{}
	w := newTestWorker(t, balancer.MethodDR, s)
	tap := withTap(w, true, [][4]byte{vipA}, nil)
	// A segment of a connection govs does not know (one the local service
	// took as a backup): the local stack decides.
	run1(w, tcpFrame(t, 40400, false, []byte("x")))
	if len(tap.frames) != 1 || len(s.frames) != 0 {
		t.Fatalf("%d frames into the tap, %d out (counters %v), want 1 and 0", len(tap.frames), len(s.frames), w.counters)
	}
	// Without a local realserver on the VIP it is dropped as before.
	withTap(w, true, nil, nil)
	run1(w, tcpFrame(t, 40401, false, []byte("x")))
	if w.counters[NotSYN] != 1 {
		t.Errorf("not_syn %d, want 1", w.counters[NotSYN])
	}
}

func TestWorkerLocalZeroAllocs(t *testing.T) {
	w := newTestWorker(t, balancer.MethodLocal, &countSink{})
	snap := *w.snap.Load()
	snap.Local = LocalSnapshot{Up: true, TapMAC: tapHW, VIPs: map[[4]byte]struct{}{vipA: {}}}
	w.snap.Store(&snap)
	w.tapq.tx = &countSink{}
	in := tcpFrame(t, 40500, true, nil)
	run1(w, in)
	data := append([]byte(nil), in.Data...)
	allocs := testing.AllocsPerRun(100, func() {
		copy(in.Data, data) // the same flow: an existing connection
		run1(w, in)
	})
	if allocs != 0 {
		t.Errorf("LocalNode path allocates %v times per packet", allocs)
	}
}
