package bench

import (
	"errors"
	"fmt"

	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/csum"
)

// Expect is what a subject's output must look like at the sink.
type Expect struct {
	// NAT: the destination address is the realserver's, and must match the
	// realserver whose MAC the frame carries; DstPort is then checked too.
	NAT     bool
	DstPort uint16
	// Tunnel: an IPIP outer header from DirOutAddr to the realserver whose
	// MAC the frame carries, around the client's packet to the VIP.
	Tunnel bool
	// RS limits the realservers allowed (indexes into RSMACs); nil: any.
	RS []int
	// Local: the frame is handed to the director's own stack unmodified
	// (LocalNode): destination MAC LocalMAC (the tap's, or the director's
	// ingress for kernel-local), still addressed to VIP:VIPPort from a client.
	Local    bool
	LocalMAC [6]byte
}

// ExpectFor is what subject in mode must deliver.
func ExpectFor(subject, mode string) Expect {
	switch subject {
	case SubjectKernel:
		return Expect{RS: []int{0}} // routed via the first realserver
	case SubjectNFT:
		return Expect{NAT: true, DstPort: VIPPort}
	case SubjectBare:
		return Expect{}
	}
	switch mode {
	case ModeMasq:
		return Expect{NAT: true, DstPort: RSPort}
	case ModeTun:
		return Expect{Tunnel: true}
	}
	return Expect{}
}

// ExpectLocal is what a local-mode subject must hand to the director's
// stack: every frame unmodified but for the destination MAC, mac (the
// tap's for govs, the director's ingress for kernel-local).
func ExpectLocal(mac [6]byte) Expect {
	return Expect{Local: true, LocalMAC: mac}
}

var errShort = errors.New("frame too short")

// Validate checks one frame seen at the sink against e. It returns which
// realserver it went to.
func Validate(f []byte, e Expect) (rs int, err error) {
	if len(f) < ethLen+ipLen+udpLen {
		return -1, errShort
	}
	if e.Local {
		return -1, validateLocal(f, e.LocalMAC)
	}
	eth := forward.Ethernet(f)
	dmac := eth.Destination()
	rs = -1
	for i, m := range RSMACs {
		if m == dmac {
			rs = i
		}
	}
	if rs < 0 {
		return -1, fmt.Errorf("destination MAC %x is no realserver's", dmac[:])
	}
	if e.RS != nil && !containsInt(e.RS, rs) {
		return rs, fmt.Errorf("sent to realserver %d, want one of %v", rs+1, e.RS)
	}
	if smac := eth.Source(); smac != DirOutMAC {
		return rs, fmt.Errorf("source MAC %x, want the director's %x", smac[:], DirOutMAC[:])
	}
	if et := eth.Type(); et != forward.EtherTypeIPv4 {
		return rs, fmt.Errorf("ethertype %#04x, want IPv4", et)
	}
	ip, err := checkIPv4(f[ethLen:])
	if err != nil {
		return rs, err
	}
	if e.Tunnel {
		if ip.Protocol() != forward.ProtoIPIP {
			return rs, fmt.Errorf("protocol %d, want IPIP (4)", ip.Protocol())
		}
		if got := ip.Destination(); got != RSAddrs[rs] {
			return rs, fmt.Errorf("outer destination %v, want %v", got, RSAddrs[rs])
		}
		if got := ip.Source(); got != DirOutAddr.Addr() {
			return rs, fmt.Errorf("outer source %v, want %v", got, DirOutAddr.Addr())
		}
		if ip, err = checkIPv4(ip.Payload()); err != nil {
			return rs, fmt.Errorf("inner: %w", err)
		}
		e = Expect{}
	}
	dst := ip.Destination()
	dport := destinationPort(ip)
	if src := ip.Source(); !clients.Contains(src) {
		return rs, fmt.Errorf("source %v is no client", src)
	}
	if e.NAT {
		if dst != RSAddrs[rs] {
			return rs, fmt.Errorf("destination %v with realserver %d's MAC, want %v", dst, rs+1, RSAddrs[rs])
		}
		if dport != e.DstPort {
			return rs, fmt.Errorf("destination port %d, want %d", dport, e.DstPort)
		}
	} else {
		if dst != VIP {
			return rs, fmt.Errorf("destination %v, want the VIP %v", dst, VIP)
		}
		if dport != VIPPort {
			return rs, fmt.Errorf("destination port %d, want %d", dport, VIPPort)
		}
	}
	if err := checkL4(ip); err != nil {
		return rs, err
	}
	return rs, nil
}

// clients is the generator's network: every frame comes from an address
// in it (FlowTuple).
var clients = GenAddr.Masked()

// validateLocal checks a frame delivered to the director's own stack: the
// client's packet to VIP:VIPPort as sent, with destination MAC mac.
func validateLocal(f []byte, mac [6]byte) error {
	eth := forward.Ethernet(f)
	if dmac := eth.Destination(); dmac != mac {
		return fmt.Errorf("destination MAC %x, want %x", dmac[:], mac[:])
	}
	if et := eth.Type(); et != forward.EtherTypeIPv4 {
		return fmt.Errorf("ethertype %#04x, want IPv4", et)
	}
	ip, err := checkIPv4(f[ethLen:])
	if err != nil {
		return err
	}
	if src := ip.Source(); !clients.Contains(src) {
		return fmt.Errorf("source %v is no client", src)
	}
	if dst := ip.Destination(); dst != VIP {
		return fmt.Errorf("destination %v, want the VIP %v", dst, VIP)
	}
	if dport := destinationPort(ip); dport != VIPPort {
		return fmt.Errorf("destination port %d, want %d", dport, VIPPort)
	}
	return checkL4(ip)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkIPv4 validates the IPv4 header at the start of b as the generator
// writes it (no options, correct checksum, room for the 8 bytes of a
// TCP/UDP header's start) and returns it as a view trimmed to its total
// length.
func checkIPv4(b []byte) (forward.IPv4, error) {
	ip, err := forward.ParseIPv4(b)
	if err != nil {
		return nil, fmt.Errorf("IPv4 header: %w", err)
	}
	if hl := ip.HeaderLength(); hl != ipLen {
		return nil, fmt.Errorf("IPv4 header length %d, want %d", hl, ipLen)
	}
	if len(ip.Payload()) < udpLen {
		return nil, errShort
	}
	if !ip.ChecksumValid() {
		return nil, errors.New("bad IPv4 header checksum")
	}
	return ip, nil
}

// destinationPort returns the destination port of the TCP or UDP header
// after ip (checkIPv4 made sure its first 8 bytes are there).
func destinationPort(ip forward.IPv4) uint16 {
	if ip.Protocol() == forward.ProtoTCP {
		return forward.TCP(ip.Payload()).DestinationPort()
	}
	return forward.UDP(ip.Payload()).DestinationPort()
}

func checkL4(ip forward.IPv4) error {
	l4 := ip.Payload()
	proto := ip.Protocol()
	switch proto {
	case forward.ProtoUDP:
		if forward.UDP(l4).Checksum() == 0 {
			return nil // no checksum
		}
	case forward.ProtoTCP:
		if len(l4) < tcpLen {
			return errShort
		}
	default:
		return fmt.Errorf("protocol %d, want TCP or UDP", proto)
	}
	ph := csum.IPv4PseudoHeader([4]byte(ip.SourceSlice()), [4]byte(ip.DestinationSlice()), proto, uint16(len(l4)))
	if csum.Checksum(l4, ph) != 0xffff {
		return fmt.Errorf("bad %s checksum", map[uint8]string{forward.ProtoTCP: "TCP", forward.ProtoUDP: "UDP"}[proto])
	}
	return nil
}
