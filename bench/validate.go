package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

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
	dmac := [6]byte(f[0:6])
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
	if smac := [6]byte(f[6:12]); smac != DirOutMAC {
		return rs, fmt.Errorf("source MAC %x, want the director's %x", smac[:], DirOutMAC[:])
	}
	if binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return rs, fmt.Errorf("ethertype %#04x, want IPv4", binary.BigEndian.Uint16(f[12:]))
	}
	ip := f[ethLen:]
	if err := checkIPv4(ip); err != nil {
		return rs, err
	}
	rsAddr := RSAddrs[rs].As4()
	if e.Tunnel {
		if ip[9] != 4 {
			return rs, fmt.Errorf("protocol %d, want IPIP (4)", ip[9])
		}
		if got := [4]byte(ip[16:20]); got != rsAddr {
			return rs, fmt.Errorf("outer destination %v, want %v", netip.AddrFrom4(got), RSAddrs[rs])
		}
		if got, want := [4]byte(ip[12:16]), DirOutAddr.Addr().As4(); got != want {
			return rs, fmt.Errorf("outer source %v, want %v", netip.AddrFrom4(got), DirOutAddr.Addr())
		}
		ip = ip[ipLen:]
		if len(ip) < ipLen+udpLen {
			return rs, errShort
		}
		if err := checkIPv4(ip); err != nil {
			return rs, fmt.Errorf("inner: %w", err)
		}
		e = Expect{}
	}
	dst := [4]byte(ip[16:20])
	dport := binary.BigEndian.Uint16(ip[ipLen+2:])
	if src := [4]byte(ip[12:16]); src[0] != 192 || src[1] != 0 || src[2] != 2 {
		return rs, fmt.Errorf("source %v is no client", netip.AddrFrom4(src))
	}
	if e.NAT {
		if dst != rsAddr {
			return rs, fmt.Errorf("destination %v with realserver %d's MAC, want %v", netip.AddrFrom4(dst), rs+1, RSAddrs[rs])
		}
		if dport != e.DstPort {
			return rs, fmt.Errorf("destination port %d, want %d", dport, e.DstPort)
		}
	} else {
		if dst != VIP.As4() {
			return rs, fmt.Errorf("destination %v, want the VIP %v", netip.AddrFrom4(dst), VIP)
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

// validateLocal checks a frame delivered to the director's own stack: the
// client's packet to VIP:VIPPort as sent, with destination MAC mac.
func validateLocal(f []byte, mac [6]byte) error {
	if dmac := [6]byte(f[0:6]); dmac != mac {
		return fmt.Errorf("destination MAC %x, want %x", dmac[:], mac[:])
	}
	if et := binary.BigEndian.Uint16(f[12:]); et != 0x0800 {
		return fmt.Errorf("ethertype %#04x, want IPv4", et)
	}
	ip := f[ethLen:]
	if err := checkIPv4(ip); err != nil {
		return err
	}
	if src := [4]byte(ip[12:16]); src[0] != 192 || src[1] != 0 || src[2] != 2 {
		return fmt.Errorf("source %v is no client", netip.AddrFrom4(src))
	}
	if dst := [4]byte(ip[16:20]); dst != VIP.As4() {
		return fmt.Errorf("destination %v, want the VIP %v", netip.AddrFrom4(dst), VIP)
	}
	if dport := binary.BigEndian.Uint16(ip[ipLen+2:]); dport != VIPPort {
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

func checkIPv4(ip []byte) error {
	if ip[0] != 0x45 {
		return fmt.Errorf("IPv4 version/IHL %#02x, want 0x45", ip[0])
	}
	if total := int(binary.BigEndian.Uint16(ip[2:])); total > len(ip) || total < ipLen {
		return fmt.Errorf("IPv4 total length %d, frame has %d", total, len(ip))
	}
	if csum.Checksum(ip[:ipLen], 0) != 0xffff {
		return errors.New("bad IPv4 header checksum")
	}
	return nil
}

func checkL4(ip []byte) error {
	total := int(binary.BigEndian.Uint16(ip[2:]))
	l4 := ip[ipLen:total]
	proto := ip[9]
	switch proto {
	case 17:
		if len(l4) < udpLen {
			return errShort
		}
		if binary.BigEndian.Uint16(l4[6:]) == 0 {
			return nil // no checksum
		}
	case 6:
		if len(l4) < tcpLen {
			return errShort
		}
	default:
		return fmt.Errorf("protocol %d, want TCP or UDP", proto)
	}
	ph := csum.IPv4PseudoHeader([4]byte(ip[12:16]), [4]byte(ip[16:20]), proto, uint16(len(l4)))
	if csum.Checksum(l4, ph) != 0xffff {
		return fmt.Errorf("bad %s checksum", map[uint8]string{6: "TCP", 17: "UDP"}[proto])
	}
	return nil
}
