package xdpshed

import (
	"encoding/binary"

	"github.com/govs-lb/govs/forward"
)

// A minimal eBPF assembler: just the instructions the shedding program
// needs, with labels resolved when the program is assembled.

// Instruction classes, sizes, modes and operations (linux/bpf.h).
const (
	clsLD    = 0x00
	clsLDX   = 0x01
	clsSTX   = 0x03
	clsALU   = 0x04
	clsJMP   = 0x05
	clsALU64 = 0x07

	szW  = 0x00
	szH  = 0x08
	szDW = 0x18

	modeIMM    = 0x00
	modeMEM    = 0x60
	modeATOMIC = 0xc0

	srcK = 0x00
	srcX = 0x08

	aluADD = 0x00
	aluMOD = 0x90
	aluMOV = 0xb0

	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJNE  = 0x50
	jmpCALL = 0x80
	jmpEXIT = 0x90
	jmpJLT  = 0xa0

	pseudoMapFD    = 1 // BPF_PSEUDO_MAP_FD: imm is a map fd
	pseudoMapValue = 2 // BPF_PSEUDO_MAP_VALUE: imm is a map fd, next imm an offset

	fnMapLookupElem = 1 // bpf_map_lookup_elem
	fnGetPrandomU32 = 7 // bpf_get_prandom_u32

	xdpDrop = 1
	xdpPass = 2
)

type insn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int32
	target   string // jump label, resolved by assemble
}

type asm struct {
	insns  []insn
	labels map[string]int
}

func (a *asm) emit(i insn) { a.insns = append(a.insns, i) }

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.insns)
}

func (a *asm) mov64Reg(dst, src uint8) {
	a.emit(insn{op: clsALU64 | aluMOV | srcX, dst: dst, src: src})
}
func (a *asm) mov64Imm(dst uint8, v int32) {
	a.emit(insn{op: clsALU64 | aluMOV | srcK, dst: dst, imm: v})
}
func (a *asm) add64Imm(dst uint8, v int32) {
	a.emit(insn{op: clsALU64 | aluADD | srcK, dst: dst, imm: v})
}
func (a *asm) mod32Reg(dst, src uint8) { a.emit(insn{op: clsALU | aluMOD | srcX, dst: dst, src: src}) }

// ldx loads dst = *(size *)(src + off).
func (a *asm) ldx(size, dst, src uint8, off int16) {
	a.emit(insn{op: clsLDX | modeMEM | size, dst: dst, src: src, off: off})
}

// stx stores *(size *)(dst + off) = src.
func (a *asm) stx(size, dst, src uint8, off int16) {
	a.emit(insn{op: clsSTX | modeMEM | size, dst: dst, src: src, off: off})
}

// atomicAdd64 does lock *(u64 *)(dst + off) += src.
func (a *asm) atomicAdd64(dst, src uint8, off int16) {
	a.emit(insn{op: clsSTX | modeATOMIC | szDW, dst: dst, src: src, off: off, imm: aluADD})
}

// ldMap loads a map reference (pseudo = pseudoMapFD: the map; pseudoMapValue:
// the address of the value of element 0 plus off) into dst: two slots.
func (a *asm) ldMap(dst uint8, pseudo uint8, fd int, off int32) {
	a.emit(insn{op: clsLD | modeIMM | szDW, dst: dst, src: pseudo, imm: int32(fd)})
	a.emit(insn{imm: off})
}

func (a *asm) jmpImm(op, dst uint8, v int32, to string) {
	a.emit(insn{op: clsJMP | op | srcK, dst: dst, imm: v, target: to})
}

func (a *asm) jmpReg(op, dst, src uint8, to string) {
	a.emit(insn{op: clsJMP | op | srcX, dst: dst, src: src, target: to})
}

func (a *asm) call(fn int32) { a.emit(insn{op: clsJMP | jmpCALL, imm: fn}) }
func (a *asm) exit()         { a.emit(insn{op: clsJMP | jmpEXIT}) }

// assemble resolves labels and encodes the program (little-endian hosts:
// dst in the low nibble of the register byte).
func (a *asm) assemble() ([]byte, error) {
	out := make([]byte, 8*len(a.insns))
	for i, in := range a.insns {
		off := in.off
		if in.target != "" {
			t, ok := a.labels[in.target]
			if !ok {
				return nil, errorf("undefined label %q", in.target)
			}
			off = int16(t - i - 1)
		}
		b := out[8*i:]
		b[0] = in.op
		b[1] = in.dst&0xf | in.src<<4
		binary.LittleEndian.PutUint16(b[2:], uint16(off))
		binary.LittleEndian.PutUint32(b[4:], uint32(in.imm))
	}
	return out, nil
}

// Frame offsets the program reads (Ethernet II, IPv4), from package
// forward, which owns the header layouts.
const (
	offEtherType = forward.EthernetTypeOffset
	offIPDst     = forward.EthernetHeaderLen + forward.IPv4DestinationOffset
	minFrame     = forward.EthernetHeaderLen + forward.IPv4MinHeaderLen
	// etherTypeIP is EtherTypeIPv4 as a little-endian load of the wire
	// bytes reads it (0x0008).
	etherTypeIP = int32(forward.EtherTypeIPv4>>8 | forward.EtherTypeIPv4&0xff<<8)
)

// shedProgram is the XDP program for one interface: state is the fd of its
// one-entry state array (see state), vips the fd of the VIP hash map (key:
// IPv4 destination in network order).
//
//	r6 = ctx
//	r2 = &state; r7 = state.congested; if r7 == 0: pass
//	r8 = state.workers
//	if data + 34 > data_end: pass
//	if ethertype != IPv4: pass
//	key = ip.dst; if !lookup(vips, &key): pass
//	if r7 >= r8: drop
//	if prandom() % r8 < r7: drop
//	pass
//	drop: state.shed += 1
func shedProgram(stateFD, vipsFD int) ([]byte, error) {
	var a asm
	a.mov64Reg(6, 1)
	a.ldMap(2, pseudoMapValue, stateFD, 0)
	a.ldx(szW, 7, 2, 0)
	a.jmpImm(jmpJEQ, 7, 0, "pass")
	a.ldx(szW, 8, 2, 4)
	a.ldx(szW, 2, 6, 0) // xdp_md.data
	a.ldx(szW, 3, 6, 4) // xdp_md.data_end
	a.mov64Reg(4, 2)
	a.add64Imm(4, minFrame)
	a.jmpReg(jmpJGT, 4, 3, "pass")
	a.ldx(szH, 5, 2, offEtherType)
	a.jmpImm(jmpJNE, 5, etherTypeIP, "pass")
	a.ldx(szW, 5, 2, offIPDst)
	a.stx(szW, 10, 5, -4)
	a.ldMap(1, pseudoMapFD, vipsFD, 0)
	a.mov64Reg(2, 10)
	a.add64Imm(2, -4)
	a.call(fnMapLookupElem)
	a.jmpImm(jmpJEQ, 0, 0, "pass")
	a.jmpReg(jmpJGE, 7, 8, "drop")
	a.call(fnGetPrandomU32)
	a.mod32Reg(0, 8)
	a.jmpReg(jmpJLT, 0, 7, "drop")
	a.label("pass")
	a.mov64Imm(0, xdpPass)
	a.exit()
	a.label("drop")
	a.ldMap(1, pseudoMapValue, stateFD, 0)
	a.mov64Imm(3, 1)
	a.atomicAdd64(1, 3, 8)
	a.mov64Imm(0, xdpDrop)
	a.exit()
	return a.assemble()
}
