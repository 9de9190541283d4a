//go:build linux

package arp

import (
	"fmt"
	"net"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// dropAll is a socket filter accepting nothing: the Announcer only sends, so
// its socket must not queue the segment's ARP traffic.
var dropAll = func() []bpf.RawInstruction {
	raw, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		panic(err)
	}
	return raw
}()

// Listen opens an AF_PACKET SOCK_RAW socket on ifi and returns an Announcer
// sending from ifi's hardware address. The socket receives nothing (a drop-all
// filter is attached). It needs CAP_NET_RAW in the current network namespace.
func Listen(ifi *net.Interface, cfg AnnouncerConfig) (*Announcer, error) {
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("arp: interface %s has no Ethernet address", ifi.Name)
	}
	c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, &packet.Config{Filter: dropAll})
	if err != nil {
		return nil, err
	}
	var mac [6]byte
	copy(mac[:], ifi.HardwareAddr)
	return NewAnnouncer(c, &packet.Addr{HardwareAddr: net.HardwareAddr(Broadcast[:])}, mac, cfg), nil
}
