package nftin

import "fmt"

// TableName is the nftables table govs owns in its network namespace.
const TableName = "govs"

// Priority of the ingress chains: ahead of anything a distribution installs
// at the usual netdev priorities.
const Priority = -500

// Service is one (protocol, IPv4 address, port). Proto is an IP protocol
// number (6 TCP, 17 UDP); Port 0 means every port of the address.
type Service struct {
	Proto uint8
	Addr  [4]byte
	Port  uint16
}

// Rules is what the ingress chains drop.
type Rules struct {
	// VIPs are virtual services. Port != 0 with TCP/UDP drops that
	// (proto, addr, port) only; Port == 0 (or another protocol) drops the
	// whole address. ICMP and non-first fragments to every VIP address are
	// dropped as well.
	VIPs []Service
	// MasqReplies are masquerading realservers: TCP/UDP from (addr, port)
	// is dropped (their replies go to govs for the reverse NAT); Port 0
	// drops all of Proto from Addr.
	MasqReplies []Service
	// ARPVIPs are addresses whose ARP requests govs answers.
	ARPVIPs [][4]byte
}

// ErrExists is returned (wrapped) by Install when the table exists already.
var ErrExists = fmt.Errorf("nftables table netdev %s exists: another govs owns this network namespace", TableName)
