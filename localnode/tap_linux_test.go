package localnode

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/lab"
	"github.com/govs-lb/govs/internal/testenv"
)

// TestTapRoundTrip opens the tap in a fresh namespace, makes its VIP
// local, writes an ICMP echo request to the VIP into it and reads the
// host stack's reply back out of it (routed there by the masq rule), then
// checks that Close leaves nothing behind.
func TestTapRoundTrip(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		testenv.Skip(t, "no /dev/net/tun: %v", err)
	}
	l := lab.NewT(t)
	h, err := l.Host("ln")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Sysctl("net/ipv4/conf/all/rp_filter", "1"); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("198.51.100.1")
	client := netip.MustParseAddr("192.0.2.2")
	var tap *Tap
	err = h.Do(func() (err error) {
		tap, err = Open(Config{})
		if err != nil {
			return err
		}
		// The echo reply goes from the VIP: route it into the tap as a
		// local masq realserver's reply would be.
		return tap.Sync(State{VIPs: []netip.Addr{vip}, MasqRIPs: []netip.Addr{vip}})
	})
	if errors.Is(err, os.ErrPermission) {
		testenv.Skip(t, "cannot create a tap: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer h.Do(tap.Close) // in the namespace: Close restores sysctls and deletes rules there

	ip := func(args ...string) string {
		out, err := h.Command(context.Background(), "ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	if out := ip("-4", "addr", "show", "dev", DefaultName); !strings.Contains(out, vip.String()+"/32") || !strings.Contains(out, "NOARP") {
		t.Errorf("tap is not NOARP with the VIP:\n%s", out)
	}
	if out := ip("rule", "show"); !strings.Contains(out, "from 198.51.100.1 lookup 26486") {
		t.Errorf("no masq rule:\n%s", out)
	}
	for k, want := range map[string]string{"net/ipv4/conf/all/rp_filter": "2", "net/ipv4/conf/govs0/rp_filter": "2",
		"net/ipv4/conf/govs0/route_localnet": "1", "net/ipv6/conf/govs0/disable_ipv6": "1"} {
		if v, err := h.ReadSysctl(k); err == nil && v != want {
			t.Errorf("%s = %s, want %s", k, v, want)
		}
	}

	mac := tap.MAC()
	peer := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: peer, DstMAC: mac[:], EthernetType: layers.EthernetTypeIPv4}
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: client.AsSlice(), DstIP: vip.AsSlice()}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip4, icmp, gopacket.Payload("govs")); err != nil {
		t.Fatal(err)
	}

	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 65536)
		for {
			n, err := tap.ReadFrame(b)
			if err != nil {
				close(got)
				return
			}
			p := gopacket.NewPacket(b[afpacket.VnetHdrLen:n], layers.LayerTypeEthernet, gopacket.Default)
			if e, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && e.TypeCode.Type() == layers.ICMPv4TypeEchoReply {
				got <- append([]byte(nil), b[afpacket.VnetHdrLen:n]...)
				return
			}
		}
	}()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var reply []byte
	for reply == nil {
		if n, err := tap.SendBatch([][]byte{buf.Bytes()}, []afpacket.VnetHdr{{}}); n != 1 || err != nil {
			t.Fatalf("SendBatch: %d, %v", n, err)
		}
		select {
		case reply = <-got:
			if reply == nil {
				t.Fatal("reader stopped")
			}
		case <-tick.C:
		case <-deadline:
			t.Fatal("no echo reply out of the tap within 5s")
		}
	}
	p := gopacket.NewPacket(reply, layers.LayerTypeEthernet, gopacket.Default)
	rip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !rip.SrcIP.Equal(vip.AsSlice()) || !rip.DstIP.Equal(client.AsSlice()) {
		t.Errorf("reply %v -> %v", rip.SrcIP, rip.DstIP)
	}
	if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); [6]byte(e.DstMAC) != mac {
		t.Errorf("reply to %v, want the tap's own MAC (arp off)", e.DstMAC)
	}

	// Sync removes what is no longer wanted.
	if err := h.Do(func() error { return tap.Sync(State{VIPs: []netip.Addr{vip}}) }); err != nil {
		t.Fatal(err)
	}
	if out := ip("rule", "show"); strings.Contains(out, "26486") {
		t.Errorf("rule left after Sync:\n%s", out)
	}
	if err := h.Do(func() error { return tap.Sync(State{VIPs: []netip.Addr{vip}, MasqRIPs: []netip.Addr{vip}}) }); err != nil {
		t.Fatal(err)
	}

	if err := h.Do(tap.Close); err != nil {
		t.Fatal(err)
	}
	if _, err := tap.SendBatch([][]byte{buf.Bytes()}, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SendBatch after Close: %v", err)
	}
	if h.Command(context.Background(), "ip", "link", "show", DefaultName).Run() == nil {
		t.Error("tap left after Close")
	}
	if out := ip("rule", "show"); strings.Contains(out, "26486") {
		t.Errorf("rule left after Close:\n%s", out)
	}
	if v, _ := h.ReadSysctl("net/ipv4/conf/all/rp_filter"); v != "1" {
		t.Errorf("all.rp_filter = %s after Close, want 1 restored", v)
	}
}
