//go:build linux

package afpacket

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/govs-lb/govs/internal/filter"
)

var (
	otherMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99} // nobody's: frames to it are PACKET_OTHERHOST and dropped by IP
	marker   = []byte("govs-afp-test")
)

// udpFrame builds an Ethernet/IPv4/UDP frame whose payload is marker + seq.
func udpFrame(t testing.TB, src, dst net.HardwareAddr, sip, dip [4]byte, sport, dport uint16, seq uint32, pad int) []byte {
	t.Helper()
	payload := make([]byte, len(marker)+4+pad)
	copy(payload, marker)
	binary.BigEndian.PutUint32(payload[len(marker):], seq)
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: sip[:], DstIP: dip[:]}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// markedSeq returns the sequence number of a frame built by udpFrame.
func markedSeq(f []byte) (uint32, bool) {
	const off = 14 + 20 + 8
	if len(f) < off+len(marker)+4 || !bytes.Equal(f[off:off+len(marker)], marker) {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[off+len(marker):]), true
}

// recvUntil receives from s until want marked frames arrived or the
// deadline passed, calling fn for each marked frame.
func recvUntil(t testing.TB, s *Socket, want int, fn func(f *Frame, seq uint32)) int {
	t.Helper()
	b := NewBatch(32)
	got := 0
	// Hand the last block back: a ring of few blocks whose retired block
	// stays with user space drops what arrives next (the ring is full).
	defer s.Release()
	deadline := time.Now().Add(5 * time.Second)
	for got < want && time.Now().Before(deadline) {
		n, err := s.Recv(b, 50*time.Millisecond)
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		for i := range b.Frames[:n] {
			f := &b.Frames[i]
			if seq, ok := markedSeq(f.Data); ok {
				got++
				if fn != nil {
					fn(f, seq)
				}
			}
		}
	}
	return got
}

func TestRecvSendHeadroom(t *testing.T) {
	p := newVethPair(t)
	const headroom = 64
	rxB := openIn(t, p.nsB, p.ifB, Config{Headroom: headroom, BlockSize: 256 << 10, BlockCount: 4})
	rxA := openIn(t, p.nsA, p.ifA, Config{BlockSize: 256 << 10, BlockCount: 4})

	const N = 200
	frames := make([][]byte, N)
	for i := range frames {
		frames[i] = udpFrame(t, p.macA, otherMAC, p.addrA, [4]byte{198, 51, 100, 1}, 40000, 9999, uint32(i), i%300)
	}
	rxBefore, _ := linkStats(t, p.nsA, "vA")
	sendRaw(t, p.nsA, p.ifA, frames)

	seen := make([]bool, N)
	got := recvUntil(t, rxB, N, func(f *Frame, seq uint32) {
		if seq >= N || seen[seq] {
			t.Fatalf("unexpected or duplicate seq %d", seq)
		}
		seen[seq] = true
		if !bytes.Equal(f.Data, frames[seq]) {
			t.Fatalf("frame %d differs:\n got %x\nwant %x", seq, f.Data, frames[seq])
		}
		if f.Len != len(f.Data) || f.PktType != PacketOtherHost || int(f.Ifindex) != p.ifB || f.HasVnet {
			t.Fatalf("frame %d: len %d/%d pkttype %d ifindex %d/%d vnet %v", seq, f.Len, len(f.Data), f.PktType, f.Ifindex, p.ifB, f.HasVnet)
		}
		if f.Headroom < headroom || len(f.Buf) != f.Headroom+len(f.Data) || &f.Buf[f.Headroom] != &f.Data[0] {
			t.Fatalf("frame %d: headroom %d, buf %d data %d", seq, f.Headroom, len(f.Buf), len(f.Data))
		}
		// Prepend a 20-byte "outer header" in place and check the frame is intact.
		orig := f.Headroom
		if !f.Extend(20) || f.Headroom != orig-20 || len(f.Data) != len(frames[seq])+20 {
			t.Fatalf("Extend(20) failed: headroom %d", f.Headroom)
		}
		for i := range 20 {
			f.Data[i] = 0xEE
		}
		if !bytes.Equal(f.Data[20:], frames[seq]) {
			t.Fatalf("frame %d damaged by writing the headroom", seq)
		}
		if f.Extend(f.Headroom + 1) {
			t.Fatal("Extend beyond the headroom succeeded")
		}
	})
	if got != N {
		t.Fatalf("received %d of %d frames", got, N)
	}
	// Send 64 frames back straight from the ring (zero copy), each batch
	// before the next Recv.
	n := 0
	b := NewBatch(64)
	sendRaw(t, p.nsA, p.ifA, frames[:64])
	for n < 64 {
		k, err := rxB.Recv(b, time.Second)
		if err != nil || k == 0 {
			t.Fatalf("Recv: %d %v", k, err)
		}
		out := make([][]byte, 0, k)
		for i := range b.Frames[:k] {
			if _, ok := markedSeq(b.Frames[i].Data); ok {
				out = append(out, b.Frames[i].Data)
			}
		}
		sent, err := rxB.SendBatch(out, nil)
		if err != nil || sent != len(out) {
			t.Fatalf("SendBatch: sent %d of %d: %v (%+v)", sent, len(out), err, rxB.TxStats())
		}
		n += len(out)
	}
	if got := recvUntil(t, rxA, 64, nil); got != 64 {
		t.Fatalf("peer received %d of 64 frames sent back", got)
	}
	rxAfter, _ := linkStats(t, p.nsA, "vA")
	if rxAfter-rxBefore < 64 {
		t.Fatalf("vA rx_packets grew by %d, want >= 64", rxAfter-rxBefore)
	}
	st, err := rxB.Stats()
	if err != nil || st.Packets < N+64 || st.Drops != 0 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if ts := rxB.TxStats(); ts.Sent != 64 || ts.Syscalls == 0 {
		t.Fatalf("TxStats = %+v", ts)
	}
}

func TestBPFSwap(t *testing.T) {
	p := newVethPair(t)
	vip := [4]byte{198, 51, 100, 7}
	spec := func(port uint16) filter.Spec {
		return filter.Spec{VIPs: []filter.Service{{Proto: filter.UDP, Addr: netip.AddrFrom4(vip), Port: port}}}
	}
	prog, err := filter.Build(spec(53))
	if err != nil {
		t.Fatal(err)
	}
	s := openIn(t, p.nsB, p.ifB, Config{BlockSize: 128 << 10, BlockCount: 2, RetireTimeout: time.Millisecond, Filter: prog})
	mk := func(dport uint16, seq uint32) []byte {
		return udpFrame(t, p.macA, otherMAC, p.addrA, vip, 1234, dport, seq, 0)
	}
	check := func(accepted uint16, firstSeq uint32) {
		t.Helper()
		// Rejected frames go first; they share the sender's CPU backlog with
		// the accepted ones, so when the last accepted frame is in, every
		// rejected one has been through the filter.
		var fr [][]byte
		for i := range uint32(10) {
			fr = append(fr, mk(accepted+1, firstSeq+100+i), mk(accepted-1, firstSeq+200+i))
		}
		for i := range uint32(10) {
			fr = append(fr, mk(accepted, firstSeq+i))
		}
		sendRaw(t, p.nsA, p.ifA, fr)
		got := recvUntil(t, s, 10, func(f *Frame, seq uint32) {
			if seq < firstSeq || seq >= firstSeq+10 {
				t.Fatalf("filter for port %d let seq %d through", accepted, seq)
			}
		})
		if got != 10 {
			t.Fatalf("port %d: got %d of 10 frames", accepted, got)
		}
	}
	check(53, 0)
	prog, err = filter.Build(spec(5353))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetBPF(prog); err != nil {
		t.Fatal(err)
	}
	check(5353, 1000)
	if err := s.SetBPF(nil); err != nil {
		t.Fatal(err)
	}
}

func TestFanoutHash(t *testing.T) {
	p := newVethPair(t)
	cfg := Config{BlockSize: 256 << 10, BlockCount: 4, RetireTimeout: time.Millisecond, FanoutGroup: 42, FanoutMode: FanoutHash, FanoutDefrag: true}
	socks := []*Socket{openIn(t, p.nsB, p.ifB, cfg), openIn(t, p.nsB, p.ifB, cfg)}
	const flows, per = 64, 4
	var fr [][]byte
	for r := range per {
		for fl := range flows {
			fr = append(fr, udpFrame(t, p.macA, otherMAC, p.addrA, [4]byte{198, 51, 100, 1}, uint16(20000+fl), 9999, uint32(fl*per+r), 0))
		}
	}
	sendRaw(t, p.nsA, p.ifA, fr)
	owner := make(map[uint32]int) // flow -> socket
	counts := [2]int{}
	b := NewBatch(32)
	deadline := time.Now().Add(5 * time.Second)
	for counts[0]+counts[1] < flows*per && time.Now().Before(deadline) {
		for i, s := range socks {
			n, err := s.Recv(b, 5*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			for j := range b.Frames[:n] {
				seq, ok := markedSeq(b.Frames[j].Data)
				if !ok {
					continue
				}
				flow := seq / per
				if o, ok := owner[flow]; ok && o != i {
					t.Fatalf("flow %d seen on socket %d and %d", flow, o, i)
				}
				owner[flow] = i
				counts[i]++
			}
		}
	}
	if counts[0]+counts[1] != flows*per {
		t.Fatalf("received %v, want %d in all", counts, flows*per)
	}
	if counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("fanout did not spread flows: %v", counts)
	}
	t.Logf("fanout: %v frames per socket", counts)
}

// TestVnetGSO checks that TPACKET_V3 rx with PACKET_VNET_HDR delivers TSO
// frames whole with a valid virtio_net_hdr, and that a GSO frame larger than
// the MTU can be sent with its header (and not without).
func TestVnetGSO(t *testing.T) {
	p := newVethPair(t)
	cfg := Config{BlockSize: 1 << 20, BlockCount: 8, VnetHdr: true, Headroom: 64}
	rx := openIn(t, p.nsB, p.ifB, cfg)
	plain := openIn(t, p.nsB, p.ifB, Config{BlockSize: 1 << 20, BlockCount: 8})

	var ln net.Listener
	if err := inNS(p.nsB, func() (err error) { ln, err = net.Listen("tcp4", "192.0.2.2:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}()
	var c net.Conn
	if err := inNS(p.nsA, func() (err error) { c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second); return err }); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const total = 300 << 10
	if _, err := c.Write(make([]byte, total)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := <-done; n != total {
		t.Fatalf("server read %d bytes, want %d", n, total)
	}

	var big []byte
	var bigHdr VnetHdr
	b := NewBatch(64)
	deadline := time.Now().Add(5 * time.Second)
	for big == nil && time.Now().Before(deadline) {
		n, err := rx.Recv(b, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b.Frames[:n] {
			f := &b.Frames[i]
			if !f.HasVnet || f.Headroom < 64 {
				t.Fatalf("frame without vnet header or headroom: %+v", f)
			}
			if len(f.Data) > 1514 {
				h := f.Vnet
				if h.GSOSize == 0 || h.GSOType&^VnetGSOECN != VnetGSOTCPv4 || h.Flags&VnetNeedsCsum == 0 ||
					h.CsumStart != 14+20 || h.CsumOffset != 16 || f.Truncated() {
					t.Fatalf("GSO frame of %d bytes with vnet header %+v", len(f.Data), h)
				}
				big, bigHdr = bytes.Clone(f.Data), h
				t.Logf("GSO frame: %d bytes, vnet %+v, status %#x", len(f.Data), h, f.Status)
				break
			}
		}
	}
	if big == nil {
		t.Fatal("no frame larger than the MTU seen with TSO traffic")
	}
	// Without a vnet header the same facts are in tp_status.
	sawGSO := false
	recvUntilFn := time.Now().Add(5 * time.Second)
	for !sawGSO && time.Now().Before(recvUntilFn) {
		n, err := plain.Recv(b, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b.Frames[:n] {
			f := &b.Frames[i]
			if len(f.Data) > 1514 {
				if f.Status&StatusGSOTCP == 0 || f.Status&StatusCsumNotReady == 0 {
					t.Fatalf("GSO frame without GSO_TCP/CSUMNOTREADY status: %#x", f.Status)
				}
				sawGSO = true
			}
		}
	}
	if !sawGSO {
		t.Fatal("plain socket saw no GSO frame")
	}

	// Send it back towards A, addressed to nobody, with and without its header.
	copy(big[0:6], otherMAC)
	txV := openTXIn(t, p.nsB, p.ifB, Config{VnetHdr: true})
	if n, err := txV.SendBatch([][]byte{big}, []VnetHdr{bigHdr}); n != 1 || err != nil {
		t.Fatalf("GSO SendBatch with vnet header: %d, %v, %+v", n, err, txV.TxStats())
	}
	txP := openTXIn(t, p.nsB, p.ifB, Config{})
	if n, err := txP.SendBatch([][]byte{big}, nil); n != 0 || err != nil || txP.TxStats().DropSize != 1 {
		t.Fatalf("oversized SendBatch without vnet header: %d, %v, %+v", n, err, txP.TxStats())
	}
}

func TestZeroAlloc(t *testing.T) {
	p := newVethPair(t)
	s := openIn(t, p.nsB, p.ifB, Config{BlockSize: 1 << 20, BlockCount: 4, RetireTimeout: time.Millisecond, Headroom: 64})
	var fr [][]byte
	for i := range 400 {
		fr = append(fr, udpFrame(t, p.macA, otherMAC, p.addrA, [4]byte{198, 51, 100, 1}, 1, 9999, uint32(i), 0))
	}
	sendRaw(t, p.nsA, p.ifA, fr)
	b := NewBatch(4)
	if n, err := s.Recv(b, 5*time.Second); n == 0 || err != nil {
		t.Fatalf("Recv: %d, %v", n, err)
	}
	got := 0
	allocs := testing.AllocsPerRun(50, func() {
		n, _ := s.Recv(b, 0)
		got += n
	})
	if allocs != 0 {
		t.Fatalf("Recv allocates %.1f times per call", allocs)
	}
	if got == 0 {
		t.Fatal("Recv returned no frames during AllocsPerRun")
	}
	tx := openTXIn(t, p.nsB, p.ifB, Config{VnetHdr: true})
	out := [][]byte{fr[0], fr[1], fr[2], fr[3]}
	hdrs := make([]VnetHdr, 4)
	allocs = testing.AllocsPerRun(50, func() { tx.SendBatch(out, hdrs) })
	if allocs != 0 {
		t.Fatalf("SendBatch allocates %.1f times per call", allocs)
	}
	if ts := tx.TxStats(); ts.Sent != 51*4 {
		t.Fatalf("TxStats = %+v, want %d sent", ts, 51*4)
	}
}

// BenchmarkVethRx measures receive rate over a veth pair: SendBatch on one
// side, Recv on the other.
func BenchmarkVethRx(b *testing.B) {
	p := newVethPair(b)
	rx := openIn(b, p.nsB, p.ifB, Config{BlockSize: 1 << 20, BlockCount: 16, RetireTimeout: time.Millisecond})
	tx := openTXIn(b, p.nsA, p.ifA, Config{QdiscBypass: true})
	frames := make([][]byte, MaxBatch)
	for i := range frames {
		frames[i] = udpFrame(b, p.macA, otherMAC, p.addrA, [4]byte{198, 51, 100, 1}, uint16(1000+i), 9999, uint32(i), 0)
	}
	batch := NewBatch(64)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	got := 0
	for got < b.N {
		if _, err := tx.SendBatch(frames, nil); err != nil {
			b.Fatal(err)
		}
		for {
			n, err := rx.Recv(batch, 0)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
			got += n
		}
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "rx-pps")
}

// TestBacklog fills ring blocks without reading them and checks that
// Backlog counts the blocks waiting behind the one being read.
func TestBacklog(t *testing.T) {
	p := newVethPair(t)
	vip := [4]byte{198, 51, 100, 7}
	s := openIn(t, p.nsB, p.ifB, Config{BlockSize: 128 << 10, BlockCount: 4, RetireTimeout: time.Millisecond})
	if got := s.Backlog(4); got != 0 {
		t.Fatalf("empty ring: Backlog = %d", got)
	}
	// Bursts of 20 small frames each fill part of a block, which the 1 ms
	// retire timeout hands over: send them until three blocks wait.
	for k := uint32(0); s.Backlog(4) < 3; k++ {
		if k == 10 {
			t.Fatalf("Backlog(4) = %d after 10 bursts, want 3 or more", s.Backlog(4))
		}
		before := s.Backlog(4)
		var fr [][]byte
		for i := range uint32(20) {
			fr = append(fr, udpFrame(t, p.macA, otherMAC, p.addrA, vip, 1234, 53, 100*k+i, 0))
		}
		sendRaw(t, p.nsA, p.ifA, fr)
		for deadline := time.Now().Add(5 * time.Second); s.Backlog(4) <= before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("burst %d: Backlog(4) stayed %d", k, before)
			}
		}
	}
	if got := s.Backlog(2); got != 2 {
		t.Fatalf("Backlog(2) = %d, want 2 (the limit)", got)
	}
	b := NewBatch(64)
	for want := s.Backlog(4) - 1; want >= 0; want-- {
		s.Release()
		if n, err := s.Recv(b, 0); err != nil || n == 0 {
			t.Fatalf("Recv = %d, %v", n, err)
		}
		if got := s.Backlog(4); got != want {
			t.Fatalf("after taking a block: Backlog = %d, want %d", got, want)
		}
	}
	s.Release()
}
