// Package filter builds the classic BPF program that an AF_PACKET socket of
// govs attaches, so that only traffic the balancer handles reaches its ring:
//
//   - IPv4 TCP/UDP to a virtual service (VIP:port, or any port of the VIP
//     when the service port is 0);
//   - IPv4 TCP/UDP replies from masquerading realservers (source RIP:rport);
//   - IPv4 fragments with a nonzero offset to a VIP address or from a masq
//     realserver address (they carry no ports);
//   - ICMP echo requests and ICMP errors (types 3, 4, 11, 12) to a VIP
//     address, and ICMP errors from a masq realserver address;
//   - ARP requests whose target address is a VIP address (Spec.ARP);
//   - any frame whose Ethernet destination is one of Spec.TapMACs.
//
// The program reads the untagged frame layout: on AF_PACKET the kernel has
// stripped an 802.1Q tag (into the packet's metadata, SKF_AD_VLAN_TAG) before
// socket filters run, so a tagged frame looks untagged here. Frames that
// still carry a tag in their data are rejected.
//
// L4 ports are found through the IP header length (ldxb 4*([14]&0xf)), so
// IPv4 options are handled. The program is a sequence of compares: its
// length and its worst-case run time grow linearly with the number of
// distinct VIP addresses, service ports and realservers; a few hundred
// entries are fine for a per-packet cost of one compare each (beyond about
// 64, a map-based eBPF filter would be the better tool). Compares more than
// 255 instructions from their target take an extra "ja", and the kernel
// refuses programs over MaxInstructions (4096), which Build reports as an
// error: roughly 250 VIP addresses with a port or two each. An empty Spec
// builds a program that accepts nothing.
//
// Build validates the program with bpf.Assemble; the tests run every rule
// on the pure-Go bpf.VM.
package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/govs-lb/govs/forward"
	"golang.org/x/net/bpf"
)

// Proto is an IP protocol number.
type Proto uint8

// Protocols of services and realservers.
const (
	TCP = Proto(forward.ProtoTCP)
	UDP = Proto(forward.ProtoUDP)
)

// Service is a protocol, an IPv4 address and a port; Port 0 means every port.
type Service struct {
	Proto Proto
	Addr  netip.Addr
	Port  uint16
}

// Spec is what the filter lets through.
type Spec struct {
	// VIPs are the virtual services.
	VIPs []Service
	// Masq are masquerading realservers, whose replies come from Addr:Port.
	Masq []Service
	// ARP accepts ARP requests for any VIP address.
	ARP bool
	// ICMP accepts ICMP echo requests and errors to VIP addresses and ICMP
	// errors from masq realserver addresses.
	ICMP bool
	// TapMACs accepts every frame whose Ethernet destination is one of these.
	TapMACs [][6]byte
}

// Accept is the snap length the program returns for an accepted frame: all
// of it, GSO frames included.
const Accept = 0xffffffff

// MaxInstructions is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const MaxInstructions = 4096

// Offsets in an untagged Ethernet/IPv4 or Ethernet/ARP frame, from package
// forward, which owns the header layouts.
const (
	offEthDst    = forward.EthernetDestinationOffset
	offEtherType = forward.EthernetTypeOffset
	offIPv4      = forward.EthernetHeaderLen
	offFragment  = offIPv4 + forward.IPv4FlagsOffset
	offProto     = offIPv4 + forward.IPv4ProtocolOffset
	offSrcAddr   = offIPv4 + forward.IPv4SourceOffset
	offDstAddr   = offIPv4 + forward.IPv4DestinationOffset
	offARPOp     = forward.EthernetHeaderLen + forward.ARPOpOffset
	offARPTPA    = forward.EthernetHeaderLen + forward.ARPTargetProtocolAddressOffset
	// Relative to X = IPv4 header length, for indirect loads.
	offSrcPort  = offIPv4 + forward.TransportSourcePortOffset
	offDstPort  = offIPv4 + forward.TransportDestinationPortOffset
	offICMPType = offIPv4 + forward.ICMPTypeOffset
)

var icmpAccepted = []uint32{uint32(forward.ICMPEcho), uint32(forward.ICMPDestUnreach),
	uint32(forward.ICMPSourceQuench), uint32(forward.ICMPTimeExceeded), uint32(forward.ICMPParamProblem)}
var icmpErrors = icmpAccepted[1:]

// Build returns the filter program for spec.
func Build(spec Spec) ([]bpf.RawInstruction, error) {
	g := &gen{}
	if err := g.build(spec); err != nil {
		return nil, err
	}
	insts, err := g.resolve()
	if err != nil {
		return nil, err
	}
	if len(insts) > MaxInstructions {
		return nil, fmt.Errorf("filter: program of %d instructions exceeds the kernel's limit of %d", len(insts), MaxInstructions)
	}
	return bpf.Assemble(insts)
}

// Instructions returns the unassembled program for spec (for tests and for
// printing it).
func Instructions(spec Spec) ([]bpf.Instruction, error) {
	g := &gen{}
	if err := g.build(spec); err != nil {
		return nil, err
	}
	return g.resolve()
}

type addrPorts struct {
	addr  uint32
	any   bool
	ports []uint32
}

// group collects, per address, the ports of the services of one protocol.
func group(svcs []Service, proto Proto) []addrPorts {
	var out []addrPorts
	for _, s := range svcs {
		if s.Proto != proto {
			continue
		}
		a := be32(s.Addr)
		i := slices.IndexFunc(out, func(g addrPorts) bool { return g.addr == a })
		if i < 0 {
			out = append(out, addrPorts{addr: a})
			i = len(out) - 1
		}
		if s.Port == 0 {
			out[i].any = true
		} else if !slices.Contains(out[i].ports, uint32(s.Port)) {
			out[i].ports = append(out[i].ports, uint32(s.Port))
		}
	}
	return out
}

func addrs(svcs []Service) []uint32 {
	var out []uint32
	for _, s := range svcs {
		if a := be32(s.Addr); !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func validate(svcs []Service, what string) error {
	for _, s := range svcs {
		if !s.Addr.Is4() {
			return fmt.Errorf("filter: %s %v: not an IPv4 address", what, s.Addr)
		}
		if s.Proto != TCP && s.Proto != UDP {
			return fmt.Errorf("filter: %s %v: protocol %d is neither TCP nor UDP", what, s.Addr, s.Proto)
		}
	}
	return nil
}

func (g *gen) build(spec Spec) error {
	if err := validate(spec.VIPs, "VIP"); err != nil {
		return err
	}
	if err := validate(spec.Masq, "masq realserver"); err != nil {
		return err
	}
	vipAddrs, masqAddrs := addrs(spec.VIPs), addrs(spec.Masq)

	for _, mac := range spec.TapMACs {
		next := g.label()
		g.op(bpf.LoadAbsolute{Off: offEthDst, Size: 4})
		g.jmp(bpf.JumpEqual, binary.BigEndian.Uint32(mac[0:4]), "", next)
		g.op(bpf.LoadAbsolute{Off: offEthDst + 4, Size: 2})
		g.jmp(bpf.JumpEqual, uint32(binary.BigEndian.Uint16(mac[4:6])), "accept", next)
		g.def(next)
	}
	if len(vipAddrs) == 0 && len(masqAddrs) == 0 {
		g.ret("reject")
		g.tail()
		return nil
	}
	g.op(bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	if spec.ARP && len(vipAddrs) > 0 {
		g.jmp(bpf.JumpEqual, uint32(forward.EtherTypeARP), "arp", "")
	}
	g.jmp(bpf.JumpEqual, uint32(forward.EtherTypeIPv4), "", "reject")

	// IPv4. Fragments with a nonzero offset have no L4 header.
	g.op(bpf.LoadAbsolute{Off: offFragment, Size: 2})
	g.jmpSet(forward.IPv4FragmentOffsetMask, "frag", "")
	g.op(bpf.LoadMemShift{Off: offIPv4})
	g.op(bpf.LoadAbsolute{Off: offProto, Size: 1})
	g.jmp(bpf.JumpEqual, uint32(TCP), "tcp", "")
	g.jmp(bpf.JumpEqual, uint32(UDP), "udp", "")
	if spec.ICMP {
		g.jmp(bpf.JumpEqual, uint32(forward.ProtoICMP), "icmp", "")
	}
	g.ret("reject")

	for _, p := range []struct {
		proto Proto
		name  string
	}{{TCP, "tcp"}, {UDP, "udp"}} {
		g.def(p.name)
		vips, masq := group(spec.VIPs, p.proto), group(spec.Masq, p.proto)
		g.matchAddrPorts(p.name+"-vip", offDstAddr, offDstPort, vips, p.name+"-masq")
		g.def(p.name + "-masq")
		g.matchAddrPorts(p.name+"-rs", offSrcAddr, offSrcPort, masq, "reject")
	}

	g.def("frag")
	g.matchAddrs(offDstAddr, vipAddrs, "accept", "")
	g.matchAddrs(offSrcAddr, masqAddrs, "accept", "reject")

	if spec.ICMP {
		g.def("icmp")
		g.op(bpf.LoadIndirect{Off: offICMPType, Size: 1})
		g.op(bpf.StoreScratch{Src: bpf.RegA, N: 0})
		g.matchAddrs(offDstAddr, vipAddrs, "icmp-vip", "")
		g.matchAddrs(offSrcAddr, masqAddrs, "icmp-rs", "reject")
		g.def("icmp-vip")
		g.op(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
		for _, ty := range icmpAccepted {
			g.jmp(bpf.JumpEqual, ty, "accept", "")
		}
		// Not for the VIP; it may still be an error from a realserver.
		g.matchAddrs(offSrcAddr, masqAddrs, "icmp-rs", "reject")
		g.def("icmp-rs")
		g.op(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
		for _, ty := range icmpErrors {
			g.jmp(bpf.JumpEqual, ty, "accept", "")
		}
		g.ret("reject")
	}

	if spec.ARP && len(vipAddrs) > 0 {
		g.def("arp")
		g.op(bpf.LoadAbsolute{Off: offARPOp, Size: 2})
		g.jmp(bpf.JumpEqual, forward.ARPRequest, "", "reject")
		g.op(bpf.LoadAbsolute{Off: offARPTPA, Size: 4})
		g.matchAddrs(-1, vipAddrs, "accept", "reject")
	}
	g.tail()
	return nil
}

// matchAddrPorts loads the address at addrOff and, for each entry, jumps to
// accept (any port) or checks the port at X+portOff; no match goes to miss.
func (g *gen) matchAddrPorts(prefix string, addrOff, portOff uint32, entries []addrPorts, miss string) {
	if len(entries) == 0 {
		g.ret(miss)
		return
	}
	g.op(bpf.LoadAbsolute{Off: addrOff, Size: 4})
	for i, e := range entries {
		to := "accept"
		if !e.any {
			to = fmt.Sprintf("%s-%d", prefix, i)
		}
		g.jmp(bpf.JumpEqual, e.addr, to, "")
	}
	g.ret(miss)
	for i, e := range entries {
		if e.any {
			continue
		}
		g.def(fmt.Sprintf("%s-%d", prefix, i))
		g.op(bpf.LoadIndirect{Off: portOff, Size: 2})
		for _, port := range e.ports {
			g.jmp(bpf.JumpEqual, port, "accept", "")
		}
		g.ret(miss)
	}
}

// matchAddrs compares the word at off (or A when off < 0) with each address:
// a match goes to hit; no match falls through (miss "") or goes to miss.
func (g *gen) matchAddrs(off int, list []uint32, hit, miss string) {
	if len(list) > 0 {
		if off >= 0 {
			g.op(bpf.LoadAbsolute{Off: uint32(off), Size: 4})
		}
		for _, a := range list {
			g.jmp(bpf.JumpEqual, a, hit, "")
		}
	}
	if miss != "" {
		g.ret(miss)
	}
}

// tail places the two return instructions.
func (g *gen) tail() {
	g.def("reject")
	g.op(bpf.RetConstant{Val: 0})
	g.def("accept")
	g.op(bpf.RetConstant{Val: Accept})
}

// gen is a small assembler with labels. Conditional jumps whose targets are
// more than 255 instructions away become a short jump over a "ja".
type gen struct {
	items  []item
	labels int
}

type item struct {
	ins      bpf.Instruction // plain instruction, or nil for a jump/label
	label    string          // label definition when ins == nil && !jump
	jump     bool
	cond     bpf.JumpTest // conditional test; uncond when always
	always   bool
	val      uint32
	tru, fal string // targets; "" = next instruction
	long     bool
}

func (g *gen) op(ins bpf.Instruction) { g.items = append(g.items, item{ins: ins}) }
func (g *gen) def(l string)           { g.items = append(g.items, item{label: l}) }
func (g *gen) label() string          { g.labels++; return fmt.Sprintf("L%d", g.labels) }
func (g *gen) ret(to string)          { g.items = append(g.items, item{jump: true, always: true, tru: to}) }
func (g *gen) jmp(c bpf.JumpTest, v uint32, tru, fal string) {
	g.items = append(g.items, item{jump: true, cond: c, val: v, tru: tru, fal: fal})
}
func (g *gen) jmpSet(v uint32, tru, fal string) { g.jmp(bpf.JumpBitsSet, v, tru, fal) }

func (it *item) size() int {
	switch {
	case it.ins != nil:
		return 1
	case !it.jump:
		return 0
	case it.always:
		return 1
	case !it.long:
		return 1
	case it.fal == "":
		return 2
	default:
		return 3
	}
}

func (g *gen) resolve() ([]bpf.Instruction, error) {
	for {
		pos := make([]int, len(g.items)+1)
		at := map[string]int{}
		for i := range g.items {
			pos[i+1] = pos[i] + g.items[i].size()
			if g.items[i].ins == nil && !g.items[i].jump {
				if _, dup := at[g.items[i].label]; dup {
					return nil, errors.New("filter: duplicate label " + g.items[i].label)
				}
				at[g.items[i].label] = pos[i]
			}
		}
		var next int // position after the item being resolved
		target := func(l string, from int) (int, error) {
			if l == "" {
				return next - from, nil
			}
			p, ok := at[l]
			if !ok {
				return 0, errors.New("filter: undefined label " + l)
			}
			if p < from {
				return 0, errors.New("filter: backward jump to " + l)
			}
			return p - from, nil
		}
		grew := false
		var out []bpf.Instruction
		for i := range g.items {
			it := &g.items[i]
			next = pos[i+1]
			switch {
			case it.ins != nil:
				out = append(out, it.ins)
			case !it.jump:
			case it.always:
				d, err := target(it.tru, pos[i]+1)
				if err != nil {
					return nil, err
				}
				out = append(out, bpf.Jump{Skip: uint32(d)})
			case !it.long:
				dt, err := target(it.tru, pos[i]+1)
				if err != nil {
					return nil, err
				}
				df, err := target(it.fal, pos[i]+1)
				if err != nil {
					return nil, err
				}
				if dt > 255 || df > 255 {
					it.long, grew = true, true
				}
				out = append(out, bpf.JumpIf{Cond: it.cond, Val: it.val, SkipTrue: uint8(dt), SkipFalse: uint8(df)})
			default:
				// jcond +0/+1; ja tru; [ja fal]
				dt, err := target(it.tru, pos[i]+2)
				if err != nil {
					return nil, err
				}
				out = append(out, bpf.JumpIf{Cond: it.cond, Val: it.val, SkipTrue: 0, SkipFalse: 1}, bpf.Jump{Skip: uint32(dt)})
				if it.fal != "" {
					df, err := target(it.fal, pos[i]+3)
					if err != nil {
						return nil, err
					}
					out = append(out, bpf.Jump{Skip: uint32(df)})
				}
			}
		}
		if !grew {
			return out, nil
		}
	}
}
